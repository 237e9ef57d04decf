"""The data manager's quarantine: list, show and export through the real CLI (piped, as a
script or `less` would read it) and through the real server, on extracts full of the
worst cells an agency can send."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
import unicodedata
from datetime import date
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import incli
from apiserver import Server
from linkage.cli import app
from linkage.connectors import ingest_file
from linkage.store import Store
from registry import register

GOOD = {"AdNo": "A1", "Forename": "Amy", "Surname": "Stone", "DOB": "01/02/2015", "Sex": "F",
        "Postcode": "SW1A 1AA"}
HEADER = list(GOOD)
LONG_REASON_TEXT = "day is out of range for month"      # far beyond column 80 in a piped table
# Cells a spreadsheet or a terminal would act on, each in a row quarantined for that very cell.
MONTH1 = [
    GOOD,
    {**GOOD, "AdNo": "A2", "DOB": "31/02/2015"},                               # invalid_date
    {**GOOD, "AdNo": "A3", "Forename": '=HYPERLINK("http://evil.example","x")'},  # formula
    {**GOOD, "AdNo": "A4", "DOB": "\uff1d1+1"},                               # full-width = (NFKC: =1+1)
    {**GOOD, "AdNo": "A5", "Surname": "Sto\x1b[31mne\u202e"},                 # control characters, bidi
    {**GOOD, "AdNo": "A6", "Postcode": "[/][bold]x"},                         # rich markup in a cell
    {**GOOD, "AdNo": "A7", "Forename": "\t=1+1", "Surname": "+44"},          # tab-led formula; two problems
    {**GOOD, "AdNo": "A8", "Postcode": "-2+3"},                               # leading minus
    {**GOOD, "AdNo": "A9", "Surname": "@SUM(A1)"},                            # leading @
]
MONTH2 = [GOOD, {**GOOD, "AdNo": "B2", "DOB": "99/99/2015"}, {**GOOD, "AdNo": "B3", "Sex": "Z"}]


def write_csv(path: Path, rows: list[dict], raw_tail: bytes = b"") -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, HEADER, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode() + raw_tail)
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("quarantine")
    home = work / "data"
    store = Store(home, memory_limit="1GB")
    # A row with bytes that are not UTF-8 (kept as surrogate escapes by the reader).
    ingest_file(store, "education", write_csv(work / "edu_oct.csv", MONTH1, b"A10,Amy,St\xffne,01/02/2015,F,SW1A 1AA\n"),
                extract_date=date(2026, 10, 1), force=True)     # mostly bad on purpose: past the safety catch
    ingest_file(store, "education", write_csv(work / "edu_nov.csv", MONTH2), extract_date=date(2026, 11, 1),
                force=True)
    health = work / "health.csv"
    health.write_text("id,name.given,name.family,birthDate\nH1,Amy,Stone,2015-02-01\nH2,Bo,Stone,2015-13-01\n")
    ingest_file(store, "health", health, extract_date=date(2026, 11, 1), force=True)
    store.close()
    return home


def cli(home: Path | None, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real command in a process of its own with stdout a pipe, COLUMNS unset unless given:
    for what only a process shows (a pipe's width, decided as the command line is imported)."""
    full = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    full.update(env or {})
    where = ["--data-dir", str(home)] if home else []
    p = subprocess.run([sys.executable, "-m", "linkage.cli", *args, *where],
                       capture_output=True, env=full, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return p


def printed(home: Path | None, *args: str) -> bytes:
    """What the command prints when it succeeds, run in this process (the same command, COLUMNS
    unset, its stdout not a terminal): for what is listed, shown and exported, without a second of
    interpreter and imports per call; any exception it does not turn into one line fails the test."""
    where = ["--data-dir", str(home)] if home else []
    done = CliRunner(env={"COLUMNS": None}).invoke(app, [*args, *where], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    return done.stdout_bytes


def refused(home: Path, *args: str) -> subprocess.CompletedProcess:
    """A refusal, run in this process (``tests/incli.py``): its exit status and its one line on
    stderr; an exception no command turned into that line (a traceback, in a process) fails the test."""
    return incli.run(*args, "--data-dir", str(home))


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def db(home: Path, sql: str) -> list[tuple]:
    store = Store(home, memory_limit="1GB", read_only=True)
    try:
        return store.rows(sql)
    finally:
        store.close()


def test_list_has_every_problem_of_current_extracts_and_all_on_request(home):
    current = rows_of(printed(home, "quarantine", "list", "--format", "csv").decode())
    every = rows_of(printed(home, "quarantine", "list", "--format", "csv", "--extract", "all").decode())
    (n_current,), = db(home, "SELECT count(*) FROM store.quarantine q JOIN store.extracts e USING (extract_id) "
                             "WHERE e.superseded_by IS NULL")
    (n_all,), = db(home, "SELECT count(*) FROM store.quarantine")
    assert len(current) == n_current == 3 and len(every) == n_all
    assert {r["file"] for r in current} == {"edu_nov.csv", "health.csv"}
    assert {r["current"] for r in every} == {"yes", "no"}
    oct_lines = sorted(int(r["line"]) for r in every if r["file"] == "edu_oct.csv")
    assert oct_lines == [3, 4, 5, 6, 7, 8, 8, 9, 10, 11]              # every problem, file line numbers
    a7 = [r for r in every if r["record_id"] == "A7"]
    assert {r["column"] for r in a7} == {"Forename", "Surname"} and {r["code"] for r in a7} <= {"formula", "invalid_name"}


def test_filters_by_source_and_by_reason_code_or_text(home):
    def refs(*args):
        return {r["ref"] for r in rows_of(printed(home, "quarantine", "list", "--format", "csv", "--extract", "all",
                                              *args).decode())}
    health = refs("--source", "health")
    assert len(health) == 1
    by_code = refs("--reason", "invalid_date")
    by_text = refs("--reason", "NOT A REAL DATE")                    # any case
    assert by_code >= by_text and len(by_text) >= 2                   # 31/02, 99/99, 2015-13-01
    assert refs("--reason", "invalid_date", "--source", "health") == health
    assert refs("--reason", "no-such-reason") == set()
    codes = {r["code"] for r in rows_of(printed(None, "quarantine", "codes", "--format", "csv").decode())}
    assert {"invalid_date", "formula", "control_characters", "invalid_sex", "other"} <= codes
    unknown = refused(home, "quarantine", "list", "--source", "housing")
    assert unknown.returncode == 2 and "unknown source" in unknown.stderr


def test_show_gives_every_problem_and_every_cell_as_sent(home):
    (eid,), = db(home, "SELECT extract_id FROM store.extracts WHERE file_name = 'edu_oct.csv'")
    out = json.loads(printed(home, "quarantine", "show", f"{eid}:5", "--format", "json"))
    assert out["record_id"] == "A4" and out["current"] is False and out["file_name"] == "edu_oct.csv"
    assert [p["column"] for p in out["problems"]] == ["DOB"]
    assert {c["column"]: c["value"] for c in out["cells"]}["DOB"] == "\uff1d1+1"
    assert [c["column"] for c in out["cells"] if c["problem"]] == ["DOB"]
    # The table form: control characters and markup shown as text, never acted on.
    table = printed(home, "quarantine", "show", f"{eid}:6").decode()
    assert "\x1b" not in table and "\u202e" not in table and "Sto\\x1b[31mne\\u202e" in table
    table = printed(home, "quarantine", "show", f"{eid}:7").decode()
    assert "[/][bold]x" in table
    missing = refused(home, "quarantine", "show", "999:1")
    assert missing.returncode == 2 and "no quarantined row 999:1" in missing.stderr
    # An error message carrying what was typed is shown as text: no markup crash, no escape codes.
    odd = refused(home, "quarantine", "show", "[/]\x1b[2J")
    assert odd.returncode == 2 and "not a quarantine reference" in odd.stderr and "\x1b" not in odd.stderr


def test_export_is_private_lf_and_safe_to_open_in_a_spreadsheet(home, tmp_path):
    out = tmp_path / "for_school.csv"
    out.write_text("source,file,line,record_id\nold contents, world-readable\n")   # an earlier export
    os.chmod(out, 0o644)
    printed(home, "quarantine", "export", str(out), "--source", "education", "--extract", "all")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    raw = out.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    text = raw.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header[:6] == ["source", "file", "line", "AdNo", "column", "value"]   # the school's own names
    by_id = {(r[3], r[4]): r for r in body}
    for cell in (c for r in rows for c in r):
        for form in (cell, unicodedata.normalize("NFKC", cell)):
            assert not form.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert by_id[("A3", "Forename")][5] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert by_id[("A4", "DOB")][5] == "'\uff1d1+1"
    assert by_id[("A7", "Forename")][5] == "'\\x09=1+1"
    assert by_id[("A7", "Surname")][5] == "'+44"
    assert by_id[("A8", "Postcode")][5] == "'-2+3" and by_id[("A9", "Surname")][5] == "'@SUM(A1)"
    assert by_id[("A5", "Surname")][5] == "Sto\\x1b[31mne\\u202e"
    assert by_id[("A10", "Surname")][5] == "St\\xffne"                 # undecodable byte, shown not lost
    assert by_id[("A2", "DOB")][2] == "3" and "out of range" in by_id[("A2", "DOB")][6]
    symlink = tmp_path / "link.csv"
    symlink.symlink_to(tmp_path / "elsewhere.csv")
    printed(home, "quarantine", "export", str(symlink))         # the link is replaced, never written through
    assert not (tmp_path / "elsewhere.csv").exists() and not symlink.is_symlink()
    assert stat.S_IMODE(symlink.stat().st_mode) == 0o600


def test_piped_tables_are_never_cut_at_80_columns(home):
    for env in ({}, {"COLUMNS": "60"}):
        listing = cli(home, "quarantine", "list", "--extract", "all", env=env).stdout.decode()
        assert LONG_REASON_TEXT in listing and "current" in listing
        assert "…" not in listing and max(len(line) for line in listing.splitlines()) > 80
        head = next(line for line in listing.splitlines() if "ref" in line)
        assert all(h in head for h in ("ref", "source", "file", "line", "record_id", "column", "reason", "code",
                                       "severity", "current"))
        status = cli(home, "status", env=env).stdout.decode()
        assert "older extracts" in status and "…" not in status


def test_status_counts_current_extracts_only(home):
    summary = json.loads(printed(home, "status", "--format", "json"))
    (rows,), = db(home, "SELECT count(DISTINCT (extract_id, line_no)) FROM store.quarantine q "
                        "JOIN store.extracts e USING (extract_id) WHERE e.superseded_by IS NULL")
    (everything,), = db(home, "SELECT count(DISTINCT (extract_id, line_no)) FROM store.quarantine")
    assert summary["quarantine"]["rows"] == rows == 3 and everything > rows
    assert "quarantine: 3 rows in current extracts" in printed(home, "status").decode()
    assert {s["source"]: s["older_extracts"] for s in summary["sources"]} == {"education": 1, "health": 0}
    assert summary["last_run"] is None
    none_yet = refused(home, "changes")
    assert none_yet.returncode == 2 and "no linkage run yet" in none_yet.stderr


def test_severity_is_listed_and_counted(home):
    """Ingest sets a bad field aside (a warning: the record is kept) or rejects the row (an error)."""
    copy = home
    summary = json.loads(printed(copy, "status", "--format", "json"))
    assert summary["quarantine"]["by_severity"] == {"error": 2, "warning": 1}
    listed = rows_of(printed(copy, "quarantine", "list", "--format", "csv").decode())
    assert {r["severity"] for r in listed} == {"error", "warning"}
    assert "(2 error, 1 warning)" in printed(copy, "status").decode()


# ---------------------------------------------------------------- the API, for the LA's data manager

@pytest.fixture(scope="module")
def api(home):
    creds = {"dm": register(home, "dm client", "la_education", "data_manager", org="Northshire Education"),
             "cme": register(home, "cme client", "la_education", "cme_officer", org="Northshire Education")}
    server = Server(home)
    yield server, creds
    server.stop()


def _call(api, who: str, path: str, purpose: str = "data_management", **params) -> httpx.Response:
    server, creds = api
    tok = server.token(*creds[who])
    return httpx.get(server.url + path, params=params, timeout=30,
                     headers={"Authorization": f"Bearer {tok}", "X-Purpose": purpose})


def _audit(home: Path) -> list[dict]:
    return [json.loads(line)["entry"] for line in (home / "audit" / "log.jsonl").read_text().splitlines()]


def test_api_lists_pages_and_filters_for_the_data_manager(api, home):
    everything = _call(api, "dm", "/v1/quarantine", extract="all", page_size=500)
    assert everything.status_code == 200, everything.text
    body = everything.json()
    cli_rows = rows_of(printed(home, "quarantine", "list", "--format", "csv", "--extract", "all").decode())
    assert body["total"] == len(cli_rows) == len(body["items"]) and body["as_of"]
    assert [(i["ref"], i["column"], i["reason"]) for i in body["items"]] == \
        [(r["ref"], r["column"], r["reason"]) for r in cli_rows]
    assert all("value" not in i for i in body["items"])                 # a listing shows no cell values
    pages = [_call(api, "dm", "/v1/quarantine", extract="all", page=p, page_size=4).json() for p in (1, 2, 3, 4)]
    assert [i["ref"] for p in pages for i in p["items"]] == [i["ref"] for i in body["items"]]
    current = _call(api, "dm", "/v1/quarantine").json()
    assert current["total"] == 3 and all(i["current"] for i in current["items"])
    health = _call(api, "dm", "/v1/quarantine", source="health", reason="invalid_date").json()
    assert [i["record_id"] for i in health["items"]] == ["H2"]
    entry = _audit(home)[-1]
    assert entry["action"] == "quarantine.list" and entry["decision"] == "allow" and entry["role"] == "data_manager"
    assert entry["filters"] == {"source": "health", "reason": "invalid_date", "extract": "current"}


def test_api_export_is_the_same_neutralised_csv(api, home, tmp_path):
    r = _call(api, "dm", "/v1/quarantine/export", source="education", extract="all")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    out = tmp_path / "cli.csv"
    printed(home, "quarantine", "export", str(out), "--source", "education", "--extract", "all")
    assert r.content == out.read_bytes()
    assert "'=HYPERLINK" in r.text
    entry = _audit(home)[-1]
    assert entry["action"] == "quarantine.export" and "value" in entry["fields"] and entry["rows"] == 12


def test_api_refuses_other_roles_and_purposes_and_audits_it(api, home):
    for who, purpose in (("cme", "data_management"), ("dm", "cme")):
        for path in ("/v1/quarantine", "/v1/quarantine/export"):
            r = _call(api, who, path, purpose)
            assert r.status_code == 403, (who, purpose, path)
            entry = _audit(home)[-1]
            assert entry["decision"] == "deny" and entry["action"] == "manage_data"
    assert _call(api, "dm", "/v1/quarantine", extract="superseded").status_code == 422


# ---------------------------------------------------------------- the neutraliser itself, for any text

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from linkage.safetext import BIDI, csv_text, visible  # noqa: E402

_DANGEROUS = st.sampled_from(["=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe62",
                              " =", "\u3000=", "\u00a0@", "\x1b", "\u202e", "\udcff", "\n",
                              "\u2028", "\x9b", "\u061c"])
_CELL = st.one_of(st.text(), st.builds(lambda a, b: a + b, _DANGEROUS, st.text()))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_CELL, min_size=1, max_size=4), min_size=1, max_size=4))
def test_no_cell_of_any_text_can_start_a_formula_or_reach_a_terminal(rows):
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    text = csv_text([f"c{i}" for i in range(width)], rows)
    text.encode("utf-8")                                       # lone surrogates written out, not fatal
    assert "\r" not in text and text.count("\n") == len(rows) + 1   # one line per row, LF only
    back = list(csv.reader(io.StringIO(text)))[1:]
    assert len(back) == len(rows)
    for cell in (c for r in back for c in r):
        for form in (cell, unicodedata.normalize("NFKC", cell)):
            assert not form.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), cell
        assert not any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in cell)
    for cell in (c for r in rows for c in r):
        shown = visible(cell)
        assert not any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in BIDI for ch in shown), shown


def test_in_a_narrow_terminal_tables_fold_to_fit_and_lose_nothing(home):
    import pty
    import re

    main, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "70", "LINES": "50", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "linkage.cli", "quarantine", "list", "--extract", "all",
                             "--data-dir", str(home)], stdout=secondary, stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(120) == 0, proc.stderr.read()
    os.close(main)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode())
    lines = [line for line in text.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= 70
    assert "…" not in text
    # Each column's text, read down the table, still holds every value whole.
    columns: dict[int, str] = {}
    for line in lines:
        if line.lstrip().startswith("│"):
            for i, part in enumerate(line.strip().strip("│").split("│")):
                columns[i] = columns.get(i, "") + part.strip()
    assert len(columns) == 10
    for i, word in ((2, "edu_oct.csv"), (6, "31/02/2015"), (7, "invalid_date"), (7, "formula"), (1, "health")):
        assert word in columns[i], (word, columns[i])
