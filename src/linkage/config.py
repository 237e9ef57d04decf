"""Typed settings read from the environment, through a cached ``get_settings()``.

Nothing is read at import time, so tests override settings by clearing the cache.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "settings_error"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINKAGE_", extra="ignore")

    home: Path = Field(default=Path(".linkage"), description="Data directory.")
    # Production supplies the key from a secret store; otherwise one is made on first run.
    db_key: SecretStr | None = None
    memory_limit: str = "4GB"
    threads: int | None = None
    # Linked when more likely than not the same child, unless a safeguarding
    # constraint (twin signature, conflicting NHS number or UPN) forbids it.
    match_threshold: float = Field(default=0.5, ge=0.5, lt=1.0)
    review_lower: float = Field(default=0.2, gt=0.0, lt=1.0)
    # The extract safety catch: a whole extract becomes current only if no more than this
    # share of its rows is quarantined, and it has at least this share of the accepted
    # rows of the extract it replaces (`linkage ingest --force` overrides).
    ingest_max_quarantined: float = Field(default=0.5, gt=0.0, le=1.0)
    ingest_min_relative_size: float = Field(default=0.5, ge=0.0, le=1.0)

    # --- API -------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    issuer: str = "linkage"
    audience: str = "linkage-api"
    # An external identity provider, trusted through its JWKS.
    jwks_url: str | None = None
    external_issuer: str | None = None
    external_audience: str | None = None
    external_algorithms: list[str] = ["RS256", "ES256", "EdDSA"]
    max_body_bytes: int = Field(default=65_536, ge=1024, le=10_485_760)
    audit_checkpoint_every: int = Field(default=100, ge=1)
    allow_remote: bool = False

    @field_validator("external_algorithms")
    @classmethod
    def _asymmetric_only(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a.lower() == "none" or a.upper().startswith("HS")]
        if bad:
            raise ValueError(f"refusing insecure token algorithms {bad}: only asymmetric signatures")
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
    def _external_complete(self) -> "Settings":
        if self.jwks_url and not (self.external_issuer and self.external_audience):
            raise ValueError("an external identity provider needs LINKAGE_EXTERNAL_ISSUER and _AUDIENCE")
        if self.host not in {"127.0.0.1", "localhost", "::1"} and not self.allow_remote:
            raise ValueError("serving beyond loopback needs LINKAGE_ALLOW_REMOTE=true behind a TLS proxy")
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
    # LINKAGE_HOME is the documented variable; pydantic maps it to ``home``.
    return Settings()


def data_dir(override: Path | None = None) -> Path:
    """The data directory: explicit flag, else LINKAGE_HOME, else ./.linkage."""
    if override is not None:
        return Path(override)
    env = os.environ.get("LINKAGE_HOME")
    return Path(env) if env else get_settings().home
