"""A reviewer's name and note, whichever channel records the decision.

The API checks both (no control characters, nothing a spreadsheet would run, 100 and 1,000
characters), but ``linkage review decide`` and ``review split`` wrote them as typed: a name
holding terminal escapes (``\\x1b[2J``) or ``=HYPERLINK(...)`` went into the audit entry's
``person`` and into every later reviewer's view of the pair, and a note had no length limit.
The check is now where every channel writes.
"""

from __future__ import annotations

import pytest

from linkage.errors import LinkageError
from linkage.link.run import open_decisions

PAIR = [("education:1", "health:2", None, None, 0.5, None)]


@pytest.mark.parametrize("reviewer,note,why", [
    ("Dana\x1b[2J", "", "the reviewer's name: control characters"),
    ("=HYPERLINK(\"http://x\")", "", "the reviewer's name: looks like a spreadsheet formula"),
    ("D" * 101, "", "the reviewer's name: 101 characters"),
    ("Dana", "seen\x07", "the note: control characters"),
    ("Dana", "n" * 1001, "the note: 1001 characters, more than the 1000 allowed"),
])
def test_a_decision_with_a_name_or_note_the_api_refuses_is_refused_on_every_channel(tmp_path, reviewer, note, why):
    decisions = open_decisions(tmp_path)
    with pytest.raises(LinkageError, match=why.replace("(", r"\(")):
        decisions.add(PAIR, decision="not_match", reviewer=reviewer, note=note, channel="cli")
    assert decisions.all() == []
    made = decisions.add(PAIR, decision="not_match", reviewer="Dana Shah", note="n" * 1000, channel="cli")
    assert [d.reviewer for d in made] == ["Dana Shah"]
