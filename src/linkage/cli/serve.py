"""``linkage serve``: the API and staff pages under uvicorn, one process or several."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from linkage.cli.common import DataDir, _fail, _failures, err
from linkage.config import data_dir, get_settings
from linkage.errors import LinkageError


def serve(host: Annotated[Optional[str], typer.Option(help="default 127.0.0.1")] = None,
          port: Annotated[Optional[int], typer.Option(help="default 8000")] = None,
          workers: Annotated[int, typer.Option(min=1, max=16, help="Processes; each holds its own index.")] = 1,
          data_dir_: DataDir = None) -> None:
    """Serve the consent-aware API (OpenAPI at /docs)."""
    import os

    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from linkage.api.protocol import CoalescingHttp
    from linkage.api.sighup import hold_sighup

    if host:
        os.environ["LINKAGE_HOST"] = host
    get_settings.cache_clear()
    try:
        settings = get_settings()
    except LinkageError as exc:  # one line naming the setting, never its value (a key)
        _fail(exc)
    _check_address(settings.host, port or settings.port)
    hold_sighup()       # a reload sent while starting must not end the server
    _warn_key_in_data_dir(data_dir(data_dir_), settings)
    if settings.behind_tls and not settings.trusted_proxies:
        err.print("[yellow]warning:[/] LINKAGE_BEHIND_TLS is set but LINKAGE_TRUSTED_PROXIES is empty: every "
                  "request will count as coming from the proxy's address (one caller's guesses throttle "
                  "everyone's tokens and sign-ins). Name the proxy (deploy/linkage.env.example).")
    from linkage.service.startchecks import check_keys, check_snapshot_order
    from linkage.store.snapshots import checked_snapshot

    with _failures(data_dir_):      # a tampered or partial snapshot, a lost key: one line, before any worker starts
        checked_snapshot(data_dir(data_dir_), db_key=settings.db_key.get_secret_value() if settings.db_key else None)
        check_keys(data_dir(data_dir_), settings)
        check_snapshot_order(data_dir(data_dir_))
    # No ``server: uvicorn`` banner to tell an attacker what to aim at; Date stays (RFC 9110).
    # X-Forwarded-* believed from the configured proxy only (uvicorn's default: any loopback peer).
    # Each response reaches the socket in one write (api/protocol.py).
    # No WebSocket: no route takes one, and uvicorn refused every handshake itself (403, past the guard:
    # no security headers, nothing for the DPO); now it is answered as the HTTP request it also is.
    quiet = dict(http=CoalescingHttp, ws="none", host=settings.host, port=port or settings.port, log_level="info",
                 access_log=False, server_header=False, date_header=True, log_config=_log_config(),
                 proxy_headers=bool(settings.trusted_proxies), forwarded_allow_ips=settings.trusted_proxies or None)
    if workers > 1:
        from linkage.access.pseudonyms import Pseudonyms
        from linkage.access.tokens import TokenService
        from linkage.audit import open_audit_log
        from linkage.audit.signer import signer_from_settings
        from linkage.store.db import create_if_missing
        from linkage.store.state import ServiceState

        home = data_dir(data_dir_)
        with _failures(data_dir_):
            # Create every key and file once, here, before the workers race for them.
            create_if_missing(home, settings.db_key.get_secret_value() if settings.db_key else None)
            TokenService(home, settings)
            Pseudonyms(home, ServiceState(home))
            open_audit_log(home, signer=signer_from_settings(home, settings)).close()
        os.environ["LINKAGE_HOME"] = str(home)
        from linkage.api.workers import run_workers

        failed = run_workers("linkage.api.app:factory", workers, factory=True, **quiet)
        if failed:      # each worker loads on its own: one that could not, stopped them all
            _fail(LinkageError(failed))
        return
    from linkage.api import create_app
    from linkage.service import Services

    # Loaded here, not in uvicorn's lifespan: whatever stops it (a lost key, a corrupt file, another
    # process writing) is this command's one-line error, not uvicorn's page of traceback.
    with _failures(data_dir_):
        services = Services.open(data_dir(data_dir_), settings)
    try:
        uvicorn.run(create_app(data_dir(data_dir_), settings, services=services), **quiet)
    except SystemExit as exc:
        if exc.code == STARTUP_FAILURE:     # the port taken while this loaded (another server started with it)
            _check_address(settings.host, port or settings.port)
        raise


def _check_address(host: str, port: int) -> None:
    """One line, before anything loads, when the server could not listen there: a port in use
    (another ``linkage serve``), one below 1024 without the right, a host that is not this
    machine's. Uvicorn said so only after loading everything, as an ERROR among INFO lines."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        _fail(LinkageError(f"cannot serve on {host!r}: not a host name or address this machine knows (check "
                           "--host or LINKAGE_HOST)"))
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)      # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as exc:
            why = {errno.EADDRINUSE: "the port is already in use (another `linkage serve`, or another program): "
                                     "stop it, or choose another --port",
                   errno.EACCES: "not allowed to listen on that port (below 1024 needs privileges): choose "
                                 "--port 1024 or above, behind the TLS proxy",
                   errno.EADDRNOTAVAIL: "that address is not one of this machine's (check --host or LINKAGE_HOST)",
                   }.get(exc.errno, exc.strerror or str(exc))
            _fail(LinkageError(f"cannot serve on {host}:{port}: {why}"))


def _warn_key_in_data_dir(home: Path, settings) -> None:
    from linkage.audit.signer import signer_from_settings

    try:
        signer = signer_from_settings(home, settings)
    except LinkageError as exc:
        _fail(exc)
    if signer.in_data_dir:
        err.print(f"[yellow]warning:[/] the audit signing key is in the data directory ({signer.where}): "
                  "whoever can rewrite the log can re-sign it. Keep it elsewhere "
                  "(LINKAGE_AUDIT_KEY_FILE, LINKAGE_AUDIT_KEY_PEM or LINKAGE_AUDIT_SIGN_COMMAND; deploy/README.md).")


def _log_config() -> dict:
    """Uvicorn's logging plus linkage's own loggers (security events), in every worker."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["linkage"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config

