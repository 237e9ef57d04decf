"""The DPO's break-glass review, in the service state on both backends: recorded once, by
whom and when, with its note sealed at rest; and a state file from before reviews had an
outcome is upgraded in place."""

from __future__ import annotations

import sqlite3

import pytest

from linkage.audit.breakglass import BreakGlassReviews
from linkage.errors import Conflict, NotFound, StoreError
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState


@pytest.fixture(params=["sqlite", "postgres"])
def state(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    s = ServiceState(tmp_path, url)
    yield s
    s.close()


def test_a_review_is_recorded_once_with_its_note_sealed(state, tmp_path):
    reviews = BreakGlassReviews(state, Sealer(tmp_path))
    reviews.record(review_id="BG-1", request_id="rq", client_id="user:sam", child_id="C-1",
                   justification="disclosure at the gate")
    reviews.record(review_id="BG-2", request_id="rq2", client_id="user:sam", child_id="C-2", justification="again")
    assert [r["review_id"] for r in reviews.all(pending=True)] == ["BG-1", "BG-2"]
    done = reviews.review("BG-1", reviewer="dee@northshire.example", outcome="not_justified",
                          note="No strategy meeting was held; spoke to the team manager.")
    assert done["reviewed_by"] == "dee@northshire.example" and done["reviewed_at"]
    assert done["outcome"] == "not_justified"
    assert done["review_note"].startswith("No strategy meeting")
    raw = state.execute("SELECT review_note FROM break_glass WHERE review_id = ?", ("BG-1",)).fetchone()[0]
    assert raw.startswith("sealed:v1:") and "strategy" not in raw
    with pytest.raises(Conflict):
        reviews.review("BG-1", reviewer="someone@else", outcome="justified", note="overwrite")
    assert reviews.get("BG-1")["outcome"] == "not_justified"
    with pytest.raises(NotFound):
        reviews.review("BG-9", reviewer="dee", outcome="justified", note="x")
    with pytest.raises(ValueError):
        reviews.review("BG-2", reviewer="dee", outcome="fine", note="x")
    assert [r["review_id"] for r in reviews.all(pending=True)] == ["BG-2"]
    assert [r["review_id"] for r in reviews.all(pending=False)] == ["BG-1"]
    # A sealed note moved onto another use's row fails to open (bound to its own row).
    state.execute("UPDATE break_glass SET review_note = ? WHERE review_id = ?", (raw, "BG-2"))
    with pytest.raises(StoreError):
        reviews.get("BG-2")


def test_an_older_state_file_gains_the_review_columns(tmp_path):
    with sqlite3.connect(tmp_path / "service.sqlite") as con:
        con.execute("CREATE TABLE break_glass (review_id TEXT PRIMARY KEY, request_id TEXT, client_id TEXT, "
                    "child_id TEXT, justification TEXT, at TEXT, reviewed_by TEXT, reviewed_at TEXT)")
    state = ServiceState(tmp_path)
    assert {"outcome", "review_note"} <= state.columns("break_glass")
    reviews = BreakGlassReviews(state, Sealer(tmp_path))
    reviews.record(review_id="BG-1", request_id="rq", client_id="c", child_id="C-1", justification="why")
    assert reviews.review("BG-1", reviewer="dee", outcome="referred", note="n")["outcome"] == "referred"
    state.close()
    ServiceState(tmp_path).close()          # opening again changes nothing


def test_who_broke_glass_reads_the_uses_own_entries_not_every_one_the_client_made(tmp_path):
    """The DPO's list names who broke glass for each use from the use's own audit entry. It searched
    every break-glass entry the client had ever made, for each use: a page of N uses read N x N entries
    (a busy team's client, a year of uses). It now reads the client's entries for that child from the
    moment the use was recorded: here one, whichever use, however many the client made."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from linkage.audit.log import AuditLog
    from linkage.service.audit import _who_broke_glass

    log = AuditLog(tmp_path, checkpoint_every=1000)
    uses = []
    for i in range(40):
        at = datetime.now(timezone.utc).isoformat()
        log.append({"request_id": f"r{i}", "client_id": "lk_team", "agency": "Northshire CSC", "role": "social_worker",
                    "person": f"sw{i}@northshire.example", "action": "view", "decision": "allow",
                    "children": [f"C-{i}"], "break_glass": True, "break_glass_review": f"BG-{i}"})
        uses.append({"review_id": f"BG-{i}", "client_id": "lk_team", "child_id": f"C-{i}", "at": at})
    index, read = log.index, []
    real = index.search

    def counted(**kw):          # the real search; only how many entries it hands back is noted
        total, recs = real(**kw)
        read.append(len(recs))
        return total, recs
    index.search = counted
    ctx = SimpleNamespace(services=SimpleNamespace(audit=log))
    for use in (uses[0], uses[17], uses[-1]):
        found = _who_broke_glass(ctx, use)
        assert found == {"organisation": "Northshire CSC", "role": "social_worker",
                         "person": f"sw{use['review_id'][3:]}@northshire.example"}, found
    assert read == [1, 1, 1], read
    log.close()
