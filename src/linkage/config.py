"""Typed settings read from the environment, through a cached ``get_settings()``.

Nothing is read at import time, so tests override settings by clearing the cache.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["TELEMETRY_OFF", "Settings", "get_settings", "settings_error"]

# FastAPI (0.16x) traces, counts and logs every request through OpenTelemetry unless told not to,
# and exports them wherever FASTAPI_OTEL_AUTO_CONFIGURE and OTEL_* point. Request paths name
# children's pseudonyms and its logs carry exception text, so nothing leaves the service that way
# whatever the environment says; both apps are built with this.
TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                 "auto_configure": False}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINKAGE_", extra="ignore")

    home: Path = Field(default=Path(".linkage"), description="Data directory.")
    # Production supplies the key from a secret store; otherwise one is made on first run.
    db_key: SecretStr | None = None
    memory_limit: str = "4GB"
    # DuckDB's limit while linking (beyond it, it spills to the encrypted temp directory): the
    # run's Python side (pairs, clusters) comes on top, and the whole must stay under 4 GiB at 1M records.
    link_memory_limit: str = Field(default="2GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    # A month decides its second pass exactly as a full relink would: it follows the last run's
    # second-pass pairs, counts namesakes over the whole population, and searches from every record
    # it reached for candidates in children it did not reach. Off, a month counts and searches only
    # among what its delta reached (a few pairs in a million may then differ from a relink until the
    # next full run); on, it costs a month about twice its time or more (docs/benchmarks.md, session 22).
    link_month_search: bool = False
    # `serve --workers N`: how long a worker may go without answering the supervisor's ping before it
    # is taken as hung and replaced. uvicorn's 5 s kills a worker still loading a million records on
    # a busy machine, and its replacement the same way, in a loop that never serves.
    worker_healthcheck_seconds: int = Field(default=60, ge=5, le=3600)
    threads: int | None = None
    # Linked when more likely than not the same child, unless a safeguarding
    # constraint (twin signature, conflicting NHS number or UPN) forbids it.
    match_threshold: float = Field(default=0.5, ge=0.5, lt=1.0)
    review_lower: float = Field(default=0.2, gt=0.0, lt=1.0)
    # A lookup names a child only on a confident, unambiguous match: probability at or
    # above match_threshold, and the runner-up's match weight at least this many bits
    # (log2 of the odds) below the best's, i.e. at least 2**bits times less likely.
    lookup_margin_bits: float = Field(default=6.0, ge=1.0, le=40.0)
    # Per-client lookup rate: a steady rate per minute after a burst (per worker process).
    # The default suits people; a system that looks up on behalf of many (a council's MIS
    # integration) may be given more, up to the bounds, by the operator.
    lookup_per_minute: float = Field(default=60.0, gt=0.0, le=100_000.0)
    lookup_burst: int = Field(default=20, ge=1, le=10_000)
    # How long a confident lookup (or a CME listing) gives an organisation a reason to
    # open that child's full record.
    relationship_days: int = Field(default=30, ge=1, le=365)
    # The extract safety catch: a whole extract becomes current only if no more than this
    # share of its rows is quarantined, and it has at least this share of the accepted
    # rows of the extract it replaces (`linkage ingest --force` overrides).
    ingest_max_quarantined: float = Field(default=0.5, gt=0.0, le=1.0)
    ingest_min_relative_size: float = Field(default=0.5, ge=0.0, le=1.0)
    # --- linking engine: where Splink runs (docs/spark.md) ---------------
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[2]"
    spark_shuffle_partitions: int = Field(default=8, ge=1, le=100_000)
    spark_driver_memory: str = "2g"
    spark_executor_memory: str | None = None
    # How Splink cuts Spark's lineage between steps (link/backends/spark.py, BREAK_LINEAGE):
    # parquet (unset; encrypted files in the checkpoint directory; checkpoint means the same), persist, or local_checkpoint
    # (block managers' memory and encrypted local disk, no files; lost with an executor, and at
    # 37k records in local[2] with a 2g driver it failed a broadcast join: give it driver memory).
    spark_break_lineage: Literal["local_checkpoint", "checkpoint", "persist", "parquet"] | None = None
    # Shared storage (hdfs://, s3a://) on a cluster; unset: a private directory under <home>/tmp.
    spark_checkpoint_dir: str | None = None
    # Where DuckDB's side writes Spark's input and Spark its scored pairs, as encrypted Parquet (the
    # records never pass through the driver): an absolute path or a Hadoop URI (s3a://, hdfs://,
    # abfs://, file://) the linkage host and every executor reach. Unset: a private directory under
    # <home>/tmp, enough for local[N].
    spark_exchange_dir: str | None = None
    # Any further Spark properties, as JSON: LINKAGE_SPARK_CONF='{"spark.executor.cores": "4"}'.
    spark_conf: dict[str, str] = {}

    # Service state shared by several servers: a ``postgresql://user@host:5432/db`` URL
    # (password from ~/.pgpass or PGPASSWORD). Unset: ``service.sqlite`` in the data directory.
    state_url: str | None = None
    # Where the audit log lives: ``file`` (``audit/log.jsonl``) or a ``postgresql://`` URL.
    # Unset: the state URL when that is PostgreSQL, else the file.
    audit_url: str | None = None

    # --- published snapshots: what servers serve (docs/scaling.md) ---------
    # Each `linkage link` publishes one; this many are kept (the current one always).
    snapshot_keep: int = Field(default=3, ge=1, le=100)
    # Where they are published: unset, ``snapshots/`` in the data directory; on several hosts, a
    # shared volume the link job writes and the servers read (deploy/compose.yaml).
    snapshot_dir: Path | None = None
    # Servers look at snapshots/current this often (0: only on SIGHUP) and switch without a restart;
    # the data they switched from is closed this long after, once requests on it have finished.
    snapshot_poll_seconds: float = Field(default=10.0, ge=0.0, le=3600.0)
    snapshot_grace_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)

    # --- API -------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    # No token is honoured for longer than this, whatever its ``exp`` says (ours or the IdP's).
    # Unset: the same as token_ttl_seconds.
    max_token_lifetime_seconds: int | None = Field(default=None, ge=30, le=3600)
    # POST /oauth/token: per client id and per remote address (per worker process), then 429.
    token_client_per_minute: float = Field(default=20, gt=0, le=600)
    token_client_burst: int = Field(default=10, ge=1, le=100)
    token_address_per_minute: float = Field(default=120, gt=0, le=6000)
    token_address_burst: int = Field(default=60, ge=1, le=1000)
    # This many wrong secrets in a row lock the client out, in every worker, for lockout_seconds.
    lockout_after_failures: int = Field(default=5, ge=1, le=20)
    lockout_seconds: int = Field(default=900, ge=60, le=86_400)
    issuer: str = "linkage"
    audience: str = "linkage-api"
    # An external identity provider, trusted through its JWKS.
    jwks_url: str | None = None
    external_issuer: str | None = None
    external_audience: str | None = None
    external_algorithms: list[str] = ["RS256", "ES256", "EdDSA"]
    # The claim naming whom the identity provider issued a token to, in the API's tokens and the staff
    # sign-in's ID tokens: the register holds it for each person and machine client it trusts
    # (access/clients.py). `sub` (OpenID Connect: never reassigned); Microsoft Entra ID gives each
    # application its own `sub`, so there `oid`. Never a claim a person may change, such as email.
    idp_subject_claim: str = Field(default="sub", pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$")
    max_body_bytes: int = Field(default=65_536, ge=1024, le=10_485_760)
    # A request body must have arrived this long after its headers (a body sent a byte at a time
    # holds a connection and a task for as long as the sender likes): 408 after.
    body_seconds: float = Field(default=30.0, gt=0, le=600)
    # --- audit log: the tail is sealed (signed) after N entries or T seconds, whichever first
    audit_checkpoint_every: int = Field(default=10, ge=1, le=10_000)
    audit_checkpoint_seconds: float = Field(default=5.0, gt=0, le=3600)
    # Refused requests (401/400/413/422/429) recorded per second per process; the rest counted.
    audit_security_events_per_second: int = Field(default=50, ge=1, le=10_000)
    # The signing key, best kept outside the data directory (see audit/signer.py).
    audit_key_file: Path | None = None
    audit_key_pem: SecretStr | None = None
    audit_sign_command: str | None = None
    audit_public_key_file: Path | None = None
    allow_remote: bool = False
    # Served over HTTPS by a TLS-terminating proxy: send Strict-Transport-Security.
    behind_tls: bool = False
    # The reverse proxy's addresses or networks (comma-separated) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. Empty (the default): no one's; a request's address is the
    # connection's. uvicorn otherwise believes them from any loopback connection, so any local
    # user could choose the address its guesses are throttled and audited under.
    trusted_proxies: str = ""

    # --- Web pages for staff (/app) ----------------------------------------
    # A session ends after this long unused, and this long after sign-in whatever happens.
    web_idle_seconds: int = Field(default=1800, ge=1, le=14_400)
    web_absolute_seconds: int = Field(default=36_000, ge=1, le=86_400)
    # Session cookies are Secure; plain http only while serving on loopback (tests, a laptop).
    web_cookie_secure: bool = True
    # Sign-in attempts per email and per address (per worker), then 429; lock-out as for clients.
    # An office shares one address, so its limit is the higher.
    web_signin_per_minute: float = Field(default=10, gt=0, le=600)
    web_signin_burst: int = Field(default=5, ge=1, le=100)
    web_signin_address_per_minute: float = Field(default=60, gt=0, le=6000)
    web_signin_address_burst: int = Field(default=30, ge=1, le=1000)
    # The council's identity provider (OpenID Connect). Unset: the local user store.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # How a signed-in person maps to linkage: their email claim names a registered user, or
    # (with oidc_org_claim and oidc_role_claim) the claims name a registered organisation and a role.
    oidc_email_claim: str = "email"
    oidc_org_claim: str | None = None
    oidc_role_claim: str | None = None
    oidc_scopes: str = "openid email profile"

    # --- The DPO's unusual-pattern checks (docs/dpo.md) ------------------------
    # Working hours in the council's own time zone: an access outside them, or on a weekend,
    # is out of hours. Days: 0 Monday .. 6 Sunday.
    dpo_timezone: str = "Europe/London"
    dpo_working_hours: tuple[int, int] = (8, 18)
    dpo_working_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    # One person (or API client) opening more than this many different children's records
    # within the window is flagged.
    dpo_many_children: int = Field(default=20, ge=2, le=100_000)
    dpo_many_children_minutes: int = Field(default=60, ge=1, le=10_080)
    # A confident lookup with no view of that child's record by the same organisation within
    # this many hours is flagged (a lookup is a reason to admit or help, not to browse).
    dpo_lookup_follow_hours: int = Field(default=72, ge=1, le=2_160)
    # One person (or API client) whose lookups named no child more than this many times in the
    # period, and more often than they named one, is flagged (trying details to see who is known).
    dpo_lookup_misses: int = Field(default=50, ge=1, le=1_000_000)
    # The patterns page searches the last days at most this often (seconds; its answer says
    # when it was found; 0: on every visit, which reads every access in the window).
    dpo_patterns_refresh_seconds: int = Field(default=300, ge=0, le=86_400)
    # A witness directory the server can read (`linkage audit witness --store DIR`, or a copy):
    # the DPO's chain-status page shows its last checkpoint and verifies against it.
    witness_dir: Path | None = None

    @field_validator("external_algorithms")
    @classmethod
    def _asymmetric_only(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a.lower() == "none" or a.upper().startswith("HS")]
        if bad:
            raise ValueError(f"refusing insecure token algorithms {bad}: only asymmetric signatures")
        return v

    @field_validator("idp_subject_claim")
    @classmethod
    def _stable_subject(cls, v: str) -> str:
        # The application's own id (azp, client_id, appid, cid) is in every token it obtains, a person's
        # as well as its own: a person signing in through a registered machine client's application
        # was that client. A session's (sid) or token's (jti) id is nobody's for long.
        if v.lower() in {"email", "upn", "preferred_username", "unique_name", "name", "given_name", "family_name",
                         "nickname", "phone_number", "linkage_org", "linkage_role", "mail", "username", "login",
                         "azp", "client_id", "appid", "cid", "aud", "iss", "tid", "sid", "jti", "email_verified"}:
            raise ValueError(f"LINKAGE_IDP_SUBJECT_CLAIM may not be {v}: a person can change it, or it is not "
                             "theirs alone (use sub, or oid with Microsoft Entra ID)")
        return v

    @field_validator("jwks_url")
    @classmethod
    def _https_jwks(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from urllib.parse import urlparse

        u = urlparse(v)
        if u.scheme != "https" and u.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("LINKAGE_JWKS_URL must use https (plain http only on loopback)")
        return v

    @model_validator(mode="after")
    def _token_lifetime(self) -> "Settings":
        if self.max_token_lifetime_seconds is None:
            self.max_token_lifetime_seconds = self.token_ttl_seconds
        elif self.max_token_lifetime_seconds < self.token_ttl_seconds:
            raise ValueError("LINKAGE_MAX_TOKEN_LIFETIME_SECONDS must be at least LINKAGE_TOKEN_TTL_SECONDS")
        return self

    @model_validator(mode="after")
    def _external_complete(self) -> "Settings":
        if self.jwks_url and not (self.external_issuer and self.external_audience):
            raise ValueError("an external identity provider needs LINKAGE_EXTERNAL_ISSUER and _AUDIENCE")
        if self.host not in {"127.0.0.1", "localhost", "::1"} and not self.allow_remote:
            raise ValueError("serving beyond loopback needs LINKAGE_ALLOW_REMOTE=true behind a TLS proxy")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: str) -> str:
        import ipaddress

        items = [p.strip() for p in v.split(",") if p.strip()]
        for item in items:
            try:
                net = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"LINKAGE_TRUSTED_PROXIES: {item!r} is not an address or a network "
                                 "(e.g. 127.0.0.1 or 172.28.0.0/24)") from None
            if net.prefixlen == 0:
                raise ValueError("LINKAGE_TRUSTED_PROXIES may not trust every address: name the proxy's")
        return ",".join(items)

    @model_validator(mode="after")
    def _web_secure(self) -> "Settings":
        if not self.web_cookie_secure and self.host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("LINKAGE_WEB_COOKIE_SECURE=false is allowed only when serving on loopback")
        if self.oidc_issuer:
            from urllib.parse import urlparse

            u = urlparse(self.oidc_issuer)
            if u.scheme != "https" and u.hostname not in {"127.0.0.1", "localhost", "::1"}:
                raise ValueError("LINKAGE_OIDC_ISSUER must use https (plain http only on loopback)")
            if not (self.oidc_client_id and self.oidc_client_secret):
                raise ValueError("an OIDC issuer needs LINKAGE_OIDC_CLIENT_ID and LINKAGE_OIDC_CLIENT_SECRET")
            if bool(self.oidc_org_claim) != bool(self.oidc_role_claim):
                raise ValueError("set both LINKAGE_OIDC_ORG_CLAIM and LINKAGE_OIDC_ROLE_CLAIM, or neither")
        return self

    @model_validator(mode="after")
    def _audiences_apart(self) -> "Settings":
        """The identity provider's ID tokens for the staff sign-in name the pages' client id as their
        audience; were it the API's too, any such token (a person's, seen in a log or a proxy) would
        open the API as an organisation's client. OpenID Connect: an ID token is not an access token."""
        same_idp = (self.oidc_issuer and self.external_issuer
                    and self.oidc_issuer.rstrip("/") == self.external_issuer.rstrip("/"))
        if same_idp and self.external_audience == self.oidc_client_id:
            raise ValueError("LINKAGE_EXTERNAL_AUDIENCE may not be LINKAGE_OIDC_CLIENT_ID: the identity provider's "
                             "ID tokens for the staff pages would be accepted by the API; give the API an audience "
                             "of its own")
        return self

    @model_validator(mode="after")
    def _dpo_hours(self) -> "Settings":
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        start, end = self.dpo_working_hours
        if not 0 <= start < end <= 24:
            raise ValueError("LINKAGE_DPO_WORKING_HOURS must be two hours 0..24, the first before the second")
        if not self.dpo_working_days or not set(self.dpo_working_days) <= set(range(7)):
            raise ValueError("LINKAGE_DPO_WORKING_DAYS must name days 0 (Monday) to 6 (Sunday)")
        try:
            ZoneInfo(self.dpo_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"LINKAGE_DPO_TIMEZONE {self.dpo_timezone!r} is not a known time zone") from None
        return self

    @field_validator("state_url", "audit_url", mode="before")
    @classmethod
    def _known_database(cls, v: object) -> object:
        if isinstance(v, str) and not v.strip():
            return None
        if isinstance(v, str) and v != "file" and v.split(":", 1)[0] not in {"postgresql", "postgres", "sqlite"}:
            raise ValueError("must be a postgresql:// URL (or sqlite:///path for the state, file for the audit log)")
        return v

    def audit_database(self) -> str | None:
        """The PostgreSQL URL the audit log is kept in, or None for the file."""
        url = self.audit_url or self.state_url
        return url if url and url.split(":", 1)[0] in {"postgresql", "postgres"} else None

    @model_validator(mode="after")
    def _spark_safe(self) -> "Settings":
        conf = {k.strip(): str(v).strip().lower() for k, v in self.spark_conf.items()}
        if conf.get("spark.io.encryption.enabled", "true") != "true":
            raise ValueError("LINKAGE_SPARK_CONF must not turn off spark.io.encryption.enabled "
                             "(Spark's shuffle and spill files hold records)")
        if self.spark_master.startswith("local"):
            for key in ("spark.driver.host", "spark.driver.bindAddress"):
                if conf.get(key, "127.0.0.1") not in {"127.0.0.1", "localhost", "::1"}:
                    raise ValueError(f"a local Spark master binds to loopback only: drop {key} from LINKAGE_SPARK_CONF")
        for key in conf:
            if key.startswith(("spark.hadoop.parquet.crypto.", "spark.hadoop.parquet.encryption.")):
                raise ValueError(f"LINKAGE_SPARK_CONF must not set {key}: the spark engine encrypts its Parquet "
                                 "files itself (docs/spark.md, \"Data at rest\")")
        where = self.spark_exchange_dir
        if where is not None and not (Path(where).is_absolute() or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://.", where)):
            raise ValueError("LINKAGE_SPARK_EXCHANGE_DIR must be an absolute path or a Hadoop URI (s3a://, hdfs://, "
                             "abfs://, file://) that the linkage host and every executor reach")
        return self

    @field_validator("db_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        """``LINKAGE_DB_KEY=`` (as in an env file shipped blank) means no key, not an empty one."""
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("db_key")
    @classmethod
    def _strong_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("LINKAGE_DB_KEY must be at least 32 characters")
        return v


def settings_error(exc: Exception) -> str:
    """A settings ValidationError as one line: ``LINKAGE_DB_KEY: must be at least 32 characters``."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc).splitlines()[0]
    parts = []
    for e in errors():
        where = ", ".join(f"LINKAGE_{str(p).upper()}" for p in e.get("loc", ()) if isinstance(p, str))
        parts.append(f"{where + ': ' if where else ''}{e['msg'].removeprefix('Value error, ')}")
    return "invalid settings: " + "; ".join(parts)


@lru_cache
def get_settings() -> Settings:
    """The settings; a wrong one is a one-line ``ConfigError`` naming it, never its value (pydantic's
    own error repeats the input: a mistyped ``LINKAGE_DB_KEY`` went into a traceback, and logs)."""
    from linkage.errors import ConfigError

    # LINKAGE_HOME is the documented variable; pydantic maps it to ``home``.
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(settings_error(exc)) from None


def data_dir(override: Path | None = None) -> Path:
    """The data directory: explicit flag, else LINKAGE_HOME, else ./.linkage."""
    if override is not None:
        return Path(override)
    env = os.environ.get("LINKAGE_HOME")
    return Path(env) if env else get_settings().home
