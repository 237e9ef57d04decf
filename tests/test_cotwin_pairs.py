"""The co-twin pairs found without comparing every surname of a birthday with every other
(``guards._family_pairs``) are exactly those the plain join finds.

``_could_be_alike`` rules a pair out before Jaro-Winkler is asked; it must never rule out
a pair Jaro-Winkler would call alike (>= 0.85), whatever the strings.
"""

from __future__ import annotations

import random

import duckdb
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.link.guards import _SURNAME_BITS, _could_be_alike, cotwin_pairs_sql
from linkage.store.schema import t

_ALPHABET = "abcdeghilmnorstuwy '-0é"


def _violations(pairs: list[tuple[str | None, str | None]]) -> list[tuple]:
    """Pairs that Jaro-Winkler calls alike but ``_could_be_alike`` rules out."""
    con = duckdb.connect()
    con.register("p", pd.DataFrame(pairs, columns=["x", "y"], dtype="string"))
    con.execute("CREATE TABLE q AS SELECT row_number() OVER () AS i, x, y FROM p")
    side = ("(SELECT i, surname, CAST(strlen(surname) AS BIGINT) AS len, {bits} AS bits "
            "FROM (SELECT i, {col} AS surname FROM q))")
    a, b = (side.format(bits=_SURNAME_BITS, col=col) for col in ("x", "y"))
    return con.execute(f"""
SELECT a.surname, b.surname FROM {a} a JOIN {b} b USING (i)
WHERE jaro_winkler_similarity(a.surname, b.surname) >= 0.85 AND NOT {_could_be_alike('a', 'b')}""").fetchall()


def _mutate(rng: random.Random, s: str) -> str:
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(s) + 1)
        op = rng.randrange(4)
        c = rng.choice(_ALPHABET)
        s = (s[:i] + c + s[i:] if op == 0 else s[:i] + s[i + 1:] if op == 1
             else s[:i] + c + s[i + 1:] if op == 2 else s[:i] + s[i + 1:i + 2] + s[i:i + 1] + s[i + 2:])
    return s


def test_could_be_alike_never_rules_out_a_jaro_winkler_match_on_many_near_spellings():
    rng = random.Random(7)
    words = ["".join(rng.choice(_ALPHABET[:19]) for _ in range(rng.randint(1, 12))) for _ in range(4000)]
    pairs = [(w, _mutate(rng, w)) for w in words for _ in range(10)] + [(None, "a"), ("", ""), ("", "a")]
    pairs += [(rng.choice(words), rng.choice(words)) for _ in range(20000)]
    con = duckdb.connect()
    alike = con.execute("SELECT count(*) FROM (SELECT unnest(?) AS x, unnest(?) AS y) "
                        "WHERE jaro_winkler_similarity(x, y) >= 0.85",
                        [[p[0] for p in pairs], [p[1] for p in pairs]]).fetchone()[0]
    assert alike > 20000            # the check below has pairs near the line to judge
    assert _violations(pairs) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(_ALPHABET, max_size=14), st.text(_ALPHABET, max_size=14)), min_size=1, max_size=50))
def test_could_be_alike_never_rules_out_a_jaro_winkler_match(pairs):
    assert _violations(pairs) == []


def test_could_be_alike_rules_out_most_unrelated_surnames():
    """Else it saves nothing: the point of it."""
    rng = random.Random(3)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9))) for _ in range(2000)]
    con = duckdb.connect()
    side = (f"(SELECT surname, CAST(strlen(surname) AS BIGINT) AS len, {_SURNAME_BITS} AS bits "
            "FROM (SELECT unnest(?) AS surname))")
    kept = con.execute(f"SELECT avg(CAST({_could_be_alike('a', 'b')} AS INT)) FROM {side} a, {side} b",
                       [words[:1000], words[1000:]]).fetchone()[0]
    assert kept < 0.2


def test_every_record_against_every_other_finds_the_pairs_the_plain_join_finds(linked_store):
    rows = f"(SELECT * EXCLUDE (content_sha, raw_sha) FROM {t('link_input_cache')})"
    fast = cotwin_pairs_sql(rows, rows)
    plain = cotwin_pairs_sql(rows, f"(SELECT * FROM {rows})")     # other text: the plain join
    assert fast != plain
    got = linked_store.rows(f"SELECT * FROM ({fast}) ORDER BY ALL")
    want = linked_store.rows(f"SELECT * FROM ({plain}) ORDER BY ALL")
    assert len(want) > 10 and got == want
    # and the cache holds exactly these pairs
    assert linked_store.rows(f"SELECT * FROM {t('link_cotwin_cache')} ORDER BY ALL") == want
