"""deploy/: the compose file and systemd units say what the code can do.

Docker Compose is not installed here, so the compose file is parsed and checked against the
code: every setting it passes exists, every command it runs is a linkage command, every file
it mounts is in the repository, and the health checks and proxy reach both servers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from linkage.cli import app
from linkage.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _commands() -> set[str]:
    return set(typer.main.get_command(app).commands)


def test_two_api_servers_behind_the_proxy_share_postgresql(compose):
    services = compose["services"]
    apis = [name for name, s in services.items() if s.get("command", [None])[0] == "serve"]
    assert len(apis) == 2
    proxy_ip = services["proxy"]["networks"]["backend"]["ipv4_address"]
    for name in apis:
        s = services[name]
        env = s["environment"]
        assert env["LINKAGE_STATE_URL"].startswith("postgresql://") and "@db:" in env["LINKAGE_STATE_URL"]
        assert env["LINKAGE_TRUSTED_PROXIES"] == proxy_ip
        assert "/readyz" in " ".join(s["healthcheck"]["test"])
        assert s["depends_on"]["db"]["condition"] == "service_healthy"
        assert any(v.endswith(":/srv/snapshots:ro") for v in s["volumes"])
        assert {"pgpass", "audit_key"} <= set(s["secrets"])
    assert services["proxy"]["depends_on"] == {a: {"condition": "service_healthy"} for a in apis}
    assert services["db"]["healthcheck"]["test"][1] == "pg_isready"
    # The second server starts once the first is ready: on one host, one loads at a time.
    assert services[apis[1]]["depends_on"][apis[0]]["condition"] == "service_healthy"
    link = services["link"]
    assert any(v.endswith(":/srv/snapshots") for v in link["volumes"])        # the publisher writes them
    assert link["environment"]["LINKAGE_SNAPSHOT_DIR"] == services[apis[0]]["environment"]["LINKAGE_SNAPSHOT_DIR"]


def test_every_setting_command_and_file_the_deploy_files_name_exists(compose):
    fields = set(Settings.model_fields)
    for name, s in compose["services"].items():
        for var in s.get("environment", {}):
            if var.startswith("LINKAGE_"):
                assert var.removeprefix("LINKAGE_").lower() in fields, f"{name}: {var} is no setting"
        if s.get("image", "").startswith("linkage"):
            cmd = s.get("command")
            assert cmd is None or cmd[0] in _commands(), f"{name}: {cmd}"
        for volume in s.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and source not in ("./certs", "./extracts"):   # the operator's own
                assert (COMPOSE.parent / source).exists(), f"{name} mounts a missing {source}"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")            # supplied by the operator, never committed
    assert not (COMPOSE.parent / "secrets").exists()
    # The proxy balances over exactly the API services, on their port.
    upstream = re.findall(r"server (\S+):(\d+)", (COMPOSE.parent / "nginx.conf").read_text())
    assert sorted(upstream) == [("api1", "8000"), ("api2", "8000")]
    # The image's COPY sources exist; its entry point is the CLI.
    for src in re.findall(r"^COPY (.+) \S+$", (DEPLOY / "Dockerfile").read_text(), re.M):
        for part in src.split():
            assert (DEPLOY.parent / part).exists(), part
    # The env file the units and compose read names only real settings.
    for line in (DEPLOY / "linkage.env.example").read_text().splitlines():
        m = re.match(r"#?\s*LINKAGE_([A-Z_]+)=", line)
        if m:
            assert m.group(1).lower() in fields, line
    for unit in (DEPLOY / "systemd").glob("*.service"):
        for cmd in re.findall(r"bin/linkage (\S+)", unit.read_text()):
            assert cmd in _commands(), f"{unit.name}: linkage {cmd}"


@pytest.mark.skipif(not shutil.which("docker"), reason="docker is not installed")
def test_compose_config_when_docker_compose_exists(tmp_path):
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if probe.returncode:
        pytest.skip("docker compose plugin is not installed")
    work = tmp_path / "compose"
    shutil.copytree(COMPOSE.parent, work)
    (work / "linkage.env").write_text("")
    (work / "secrets").mkdir()
    for name in ("pg_password", "pgpass", "audit_ed25519.pem"):
        (work / "secrets" / name).write_text("x")
    done = subprocess.run(["docker", "compose", "-f", str(work / "compose.yaml"), "config", "-q"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path):
    linkage = Path(sys.executable).with_name("linkage")
    assert linkage.exists()
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text().replace("/opt/linkage/.venv/bin/linkage", str(linkage))
        if not Path("/usr/bin/curl").exists():
            text = text.replace("/usr/bin/curl", shutil.which("true") or "/bin/true")
        (tmp_path / unit.name).write_text(text)
        name = unit.name.replace("@.service", "@8001.service")
        done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)], capture_output=True, text=True)
        assert done.returncode == 0 and unit.stem.split("@")[0] not in done.stderr, done.stderr
