"""A hostile or careless column mapping, against the real ``linkage ingest --mapping``.

A ``path:`` key (the field the loader sets to the file's own location) and an event's ``const``
value of the wrong type (a date that is not a date, or a billion-laughs list built from YAML
anchors) were not checked when the mapping was read: each ended the ingest with a Python
traceback instead of one line naming the mapping's fault. Both are now refused as mapping faults,
and (session 28) an ``encoding`` that names a codec of bytes to bytes or text to text.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

BASE = "source: education\nrecord_id: AdNo\nfields: {forename: F, surname: S, date_of_birth: D}\n"
EVENT = "events:\n  - type: enrolment\n    fields: {urn: U}\n    const:\n"
LAUGHS = "      enrol_status:\n        - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"        - &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefg", "bcdefgh"))

MAPPINGS = {
    "a path key": (BASE + "path: /etc/shadow\n", "path"),
    "a const date that is not one": (BASE + EVENT + "      entry_date: not a date\n", "const entry_date"),
    "a billion laughs in a const": (BASE + EVENT + LAUGHS, "const enrol_status"),
    # A codec Python knows but that decodes no text: a traceback at ingest (session 28).
    "a codec that is not a text encoding": (BASE + "encoding: zlib_codec\n", "not a text encoding"),
}


@pytest.mark.parametrize("case", list(MAPPINGS))
def test_a_faulty_mapping_is_one_line_naming_the_fault(tmp_path, case):
    text, fault = MAPPINGS[case]
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(text, encoding="utf-8")
    extract = tmp_path / "pupils.csv"
    extract.write_text("AdNo,F,S,D,U\n1,Alexander,Example,2015-03-14,100001\n", encoding="utf-8")
    home = tmp_path / "data"
    done = subprocess.run([sys.executable, "-m", "linkage.cli", "ingest", str(extract), "--source", "education",
                           "--mapping", str(mapping), "--data-dir", str(home)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "LINKAGE_HOME": str(home), "COLUMNS": "300"})
    said = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in said, said
    assert said.strip().count("\n") == 0 and "mapping.yaml is invalid" in said and fault in said, said
