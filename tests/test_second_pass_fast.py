"""The second pass's and clustering's fast paths give what their plain-Python definitions give.

``shared_identifiers`` groups identifiers in SQL and ``constrained_clusters`` runs over integer
arrays; each is checked here against a direct transcription of the rule it implements, on
random small populations (few sources, few identifier values, so collisions are common).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from collections.abc import Iterable
from itertools import combinations

import duckdb
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from exampledb import example_connection

from linkage.link.cluster import constrained_clusters
from linkage.link.complement import IDENTIFIER_REASON, SHARED_MOST, shared_identifiers
from linkage.link.evidence import ClusterPass, clusters_arrow

SOURCES = ("education", "health", "social_care")
_MARCH1 = date(2015, 3, 1)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """``rows`` into ``table`` in one statement, a list a column: ``executemany`` runs one a row,
    most of these property tests' time."""
    if rows:
        columns = [list(c) for c in zip(*rows)]
        con.execute(f"INSERT INTO {table} SELECT " + ", ".join(f"unnest(${i + 1})" for i in range(len(columns))),
                    columns)


def _shared_reference(found: ClusterPass, cluster_of, identifiers, apart) -> None:
    """The rule read plainly: every record's identifiers, grouped by value, in sorted order."""
    skip = {frozenset((cluster_of[a], cluster_of[b])) for a, b, *_ in (*found.links, *found.queue, *apart)
            if a in cluster_of and b in cluster_of}
    sources: dict[str, set[str]] = defaultdict(set)
    for key, child in cluster_of.items():
        sources[child].add(key.split(":", 1)[0])
    holders: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for key in sorted(cluster_of):
        for kind, value in identifiers.get(key, {}).items():
            if value:
                holders[(kind, value)].setdefault(cluster_of[key], key)
    names = {"upn": "UPN", "nhs": "NHS number"}
    for (kind, _), held in sorted(holders.items()):
        if not 1 < len(held) <= SHARED_MOST:
            continue
        for (ca, a), (cb, b) in combinations(sorted(held.items()), 2):
            if frozenset((ca, cb)) not in skip and sources[ca].isdisjoint(sources[cb]):
                skip.add(frozenset((ca, cb)))
                found.queue.append((a, b, IDENTIFIER_REASON.format(kind=names.get(kind, kind))))


_record = st.tuples(st.sampled_from(SOURCES), st.integers(0, 30), st.integers(0, 12),
                    st.one_of(st.none(), st.sampled_from(["", "N1", "N2", "N3"])),
                    st.one_of(st.none(), st.sampled_from(["", "U1", "U2", "U3", "U4"])))


@settings(max_examples=150, deadline=None)
@given(st.lists(_record, min_size=1, max_size=40), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)),
                                                            max_size=4))
def test_shared_identifiers_matches_its_plain_definition(records, apart_idx):
    cluster_of, identifiers = {}, {}
    for source, rid, child, nhs, upn in records:
        key = f"{source}:{rid}"
        cluster_of[key] = f"C{child}"
        identifiers[key] = {"nhs": nhs, "upn": upn}
    keys = list(cluster_of)
    apart = [(keys[a % len(keys)], keys[b % len(keys)]) for a, b in apart_idx]
    con = example_connection()
    con.register("kids", clusters_arrow(cluster_of, identifiers))
    fast, slow = ClusterPass(), ClusterPass()
    shared_identifiers(con, "kids", fast, cluster_of, apart)
    _shared_reference(slow, cluster_of, identifiers, apart)
    assert fast.queue == slow.queue


def _clusters_reference(nodes: Iterable[str], edges: Iterable[tuple[str, str, float]],
                         cannot_link: Iterable[tuple[str, str]] = (),
                         identifiers: dict[str, dict[str, str]] | None = None,
                         must_link: Iterable[tuple[str, str]] = (),
                         never_link: Iterable[tuple[str, str]] = (),
                         soft_upn: Iterable[tuple[str, str]] = (),
                         ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The union-find over record keys as it was first written (dicts of strings, a Python sort)."""
    parent: dict[str, str] = {n: n for n in nodes}
    ids = identifiers or {}
    # The two UPN values a soft pair's records hold: clusters whose only conflict they are join.
    soft = {frozenset((ids[a]["upn"], ids[b]["upn"])) for a, b in soft_upn
            if a in parent and b in parent and ids.get(a, {}).get("upn") and ids.get(b, {}).get("upn")
            and ids[a]["upn"] != ids[b]["upn"]}
    # A root's identifiers by kind and its number of records, kept once an edge reaches it
    # (a record no edge reaches needs neither).
    held: dict[str, dict[str, set[str]]] = {}
    size: dict[str, int] = {}
    never_link = list(never_link)
    forbidden = _apart_reference([*cannot_link, *never_link], parent)   # root -> nodes it must avoid
    never = _apart_reference(never_link, parent)                         # the reviewer's part of it

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def holding(root: str) -> dict[str, set[str]]:
        found = held.get(root)
        if found is None:
            found = held[root] = {kind: {v} for kind, v in ids.get(root, {}).items() if v}
        return found

    def separated(ra: str, rb: str, by: dict[str, set[str]]) -> bool:
        if ra not in by and rb not in by:      # most roots must avoid no one
            return False
        return any(find(x) == rb for x in by.get(ra, ())) or any(find(x) == ra for x in by.get(rb, ()))

    def join(ra: str, rb: str) -> None:
        if size.get(ra, 1) < size.get(rb, 1):
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] = size.get(ra, 1) + size.pop(rb, 1)
        for by in (forbidden, never):
            if rb in by:
                by[ra] = by.get(ra, set()) | by.pop(rb)
        ha = holding(ra)
        for kind, values in holding(rb).items():
            ha.setdefault(kind, set()).update(values)
        del held[rb]

    refused: list[tuple[str, str]] = []
    for left, right in sorted((a, b) for a, b in must_link if a in parent and b in parent):
        ra, rb = find(left), find(right)
        if ra == rb:
            continue
        if separated(ra, rb, never):
            refused.append((left, right))
            continue
        join(ra, rb)
    for left, right, _ in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        ra, rb = find(left), find(right)
        if ra == rb:
            continue
        ha, hb = holding(ra), holding(rb)
        against = [kind for kind, values in ha.items() if kind in hb and values.isdisjoint(hb[kind])]
        if (separated(ra, rb, forbidden)
                or (against and (against != ["upn"] or not any(
                    frozenset((u, v)) in soft for u in ha["upn"] for v in hb["upn"])))):
            refused.append((left, right))
            continue
        join(ra, rb)
    return {n: find(n) for n in parent}, refused


def _apart_reference(pairs: Iterable[tuple[str, str]], nodes: dict[str, str]) -> dict[str, set[str]]:
    apart: dict[str, set[str]] = {}
    for a, b in pairs:
        if a in nodes and b in nodes:
            apart.setdefault(a, set()).add(b)
            apart.setdefault(b, set()).add(a)
    return apart


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 14), data=st.data())
def test_constrained_clusters_match_the_plain_union_find(n, data):
    """Same clusters (ids included: the root record), same refused pairs in the same order, with
    ties in weight, UPNs and NHS numbers that clash, soft UPN pairs, reviewer decisions."""
    nodes = [f"{'ehs'[i % 3]}:{i}" for i in range(n)]
    node = st.sampled_from(nodes)
    pair = st.tuples(node, node)
    edges = data.draw(st.lists(st.tuples(node, node, st.sampled_from([1.0, 2.5, 2.5, 7.0, -0.0, 0.0, 30.0])),
                               max_size=30))
    ids = {k: {"nhs": data.draw(st.sampled_from([None, "", "N1", "N2"])),
               "upn": data.draw(st.sampled_from([None, "U1", "U2", "U3"]))} for k in nodes}
    kw = dict(cannot_link=data.draw(st.lists(pair, max_size=3)), identifiers=ids,
              must_link=data.draw(st.lists(pair, max_size=3)), never_link=data.draw(st.lists(pair, max_size=2)),
              soft_upn=data.draw(st.lists(pair, max_size=4)))
    order = data.draw(st.permutations(nodes))
    assert constrained_clusters(order, edges, **kw) == _clusters_reference(order, list(edges), **kw)


# Forenames a slip or two apart from each other, and a common one, so that slips of every kind
# (and rare and common sides) are drawn often.
def _plain_slips(con, may_pair: str, population: str = "ik") -> set[tuple]:
    """The slip pairs read plainly: every two records of ``ik`` born on one day whose forenames
    ``slip_sql`` calls a slip (each forename's count over ``population``), that ``may_pair`` allows."""
    from linkage.link.unreached import COUNT_TABLE, counts_sql, slip_sql

    return {tuple(r) for r in con.execute(f"""
WITH {COUNT_TABLE} AS ({counts_sql(population)}),
h AS (SELECT ik.*, c.n AS held FROM ik JOIN {COUNT_TABLE} c USING (forename))
SELECT a.n, b.n FROM h a JOIN h b ON a.n < b.n AND a.dob = b.dob
WHERE {slip_sql('a', 'b')} AND {may_pair}""").fetchall()}


_FORENAMES = ("jacob", "jaxob", "jacb", "jcaob", "jacobb", "reuben", "reyen", "rueben", "leo", "leon", "mia", "mila",
              "oscar", "osca", "osacr", "ann", "anna")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_FORENAMES), st.integers(0, 3), st.sampled_from(SOURCES),
                          st.integers(0, 5)), min_size=2, max_size=60))
def test_slip_pairs_among_forenames_are_every_slip_pair_of_records(rows):
    """``unreached.typo_pairs_sql`` finds slips among the distinct forenames, then their records:
    the pairs are exactly those a plain reading gives, every two records born on one day whose
    forenames ``slip_sql`` calls a slip (its rarity, length and distance rules, each forename's
    count over every record), that ``may_pair`` allows."""
    from linkage.link.unreached import COUNT_TABLE, counts_sql, typo_pairs_sql

    con = example_connection()
    con.execute("CREATE TABLE ik (n BIGINT, forename VARCHAR, dob DATE, source_dataset VARCHAR, kid BIGINT)")
    _insert(con, "ik", [(n, f, _MARCH1 + timedelta(day), src, kid) for n, (f, day, src, kid) in enumerate(rows)])
    may_pair = "a.kid <> b.kid AND a.source_dataset <> b.source_dataset"
    got = {tuple(r) for r in con.execute(f"WITH {COUNT_TABLE} AS ({counts_sql('ik')}) "
                                         f"{typo_pairs_sql('ik', may_pair)}").fetchall()}
    plain = _plain_slips(con, may_pair)
    assert got == plain


def _unnested(node: dict) -> int:
    """Rows every UNNEST of an analysed plan (``EXPLAIN (ANALYZE, FORMAT JSON)``) gave."""
    own = node.get("operator_cardinality", 0) if node.get("operator_type") == "UNNEST" else 0
    return own + sum(_unnested(c) for c in node.get("children", []))


def test_a_months_slip_search_keys_only_the_forenames_it_reached():
    """A month's second pass looks at a few thousand records (``ik``), yet the slips were searched
    among every forename of the million, each under some twenty spellings. Only ``ik``'s forenames
    are keyed now; how many records hold each is still counted over the whole population, and
    the pairs are those the plain reading gives."""
    from linkage.link.unreached import COUNT_TABLE, _deletion_keys, counts_sql, typo_pairs_sql

    con = duckdb.connect(config={"threads": 1})
    con.execute("CREATE TABLE pop (n BIGINT, forename VARCHAR, dob DATE, source_dataset VARCHAR, kid BIGINT)")
    others = [(f"{a}{b}{c}name", day) for a in "bcdfg" for b in "aeiou" for c in "klmnp" for day in range(3)]
    rows = [("jacob", 0), ("jaxob", 0), ("jacb", 1), ("reuben", 0), ("reyen", 0), ("jacob", 1), *others,
            *[("jacob", 2)] * 40]
    _insert(con, "pop", [(n, f, _MARCH1 + timedelta(day), SOURCES[n % 3], n) for n, (f, day) in enumerate(rows)])
    con.execute("CREATE TABLE ik AS SELECT * FROM pop WHERE n < 6")          # the records a month reached
    may_pair = "a.kid <> b.kid AND a.source_dataset <> b.source_dataset"
    sql = f"WITH {COUNT_TABLE} AS ({counts_sql('pop')}) {typo_pairs_sql('ik', may_pair)}"
    got = {tuple(r) for r in con.execute(sql).fetchall()}
    plain = _plain_slips(con, may_pair, 'pop')
    assert got == plain and got           # jacob / jaxob, reuben / reyen (jacob common: 42 records)
    reached = con.execute(f"WITH {COUNT_TABLE} AS ({counts_sql('pop')}) SELECT count(*) FROM "
                          f"({_deletion_keys('forename IN (SELECT forename FROM ik)')})").fetchone()[0]
    plan = json.loads(con.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchall()[0][1])
    assert _unnested(plan) <= 2 * reached < len(others)


_KEYED = ("n INTEGER, kid INTEGER, register INTEGER, dob DATE, k_upn UINTEGER, "
          "k_nhs UINTEGER, k_sex BOOLEAN, k VARCHAR, d DATE")
_ID = st.one_of(st.none(), st.integers(1, 3))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_ID, _ID, st.sampled_from([None, "M", "F"])), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 11), st.sampled_from(SOURCES), st.sampled_from(["m:A", "m:B", "p:X"]),
                          st.integers(0, 45), st.booleans()), min_size=2, max_size=50))
def test_keyed_pairs_split_by_identifiers_are_the_plain_joins_pairs(kids, rows):
    """``evidence._keyed_pairs`` meets the rows under one key and month in disjoint joins, each on
    what the identifier test leaves (one UPN, one NHS number, or a side holding none): the pairs
    are exactly those of the one join on key and month that ``_may_pair`` filters, with children
    holding no UPN, no NHS number, both or neither, and UPNs two children share; for every pair
    of the population, and for a month's (a focus record against any other)."""
    from linkage.link.evidence import _keyed_pairs, _may_pair

    con = example_connection()
    con.execute("CREATE TABLE one (kid INTEGER, k_upn UINTEGER, k_nhs UINTEGER, k_sex BOOLEAN)")
    _insert(con, "one", [(i, u, h, None if s is None else s == "M") for i, (u, h, s) in enumerate(kids)])
    con.execute("CREATE TABLE raw (n INTEGER, register INTEGER, k VARCHAR, f BOOLEAN, x DATE, kid INTEGER)")
    _insert(con, "raw", [(n, SOURCES.index(src), key, f, date(2015, 3, 20) + timedelta(day), kid % len(kids))
                         for n, (kid, src, key, day, f) in enumerate(rows)])
    con.execute(f"CREATE TABLE keyed ({_KEYED}, f BOOLEAN)")
    con.execute("INSERT INTO keyed SELECT n, kid, register, x, k_upn, k_nhs, k_sex, k, "
                "date_trunc('month', x), f FROM raw JOIN one USING (kid)")
    con.execute("CREATE VIEW keyed_f AS SELECT * FROM keyed WHERE f")
    plain = "SELECT DISTINCT least(a.n, b.n), greatest(a.n, b.n) FROM {a} a JOIN keyed b ON a.k = b.k AND a.d = b.d " \
            f"AND a.n <> b.n AND {_may_pair('a', 'b')} ORDER BY ALL"
    for left, right in (("keyed", "keyed"), ("keyed_f", "keyed")):
        got = con.execute(f"SELECT DISTINCT a, b FROM ({_keyed_pairs(left, right)}) ORDER BY ALL").fetchall()
        assert got == con.execute(plain.format(a=left)).fetchall()


def _keyed_joined(node: dict) -> int:
    """The most pairs any join of records on the second pass's keys (``k``) in an analysed plan (``EXPLAIN
    (ANALYZE, FORMAT JSON)``) gave."""
    info = node.get("extra_info", {})
    on = info.get("Conditions", [])
    paired = info.get("Join Type") == "INNER" and "k = k" in (on if isinstance(on, list) else [on])
    own = node.get("operator_cardinality", 0) if paired else 0
    return max([own, *(_keyed_joined(c) for c in node.get("children", []))])


def test_a_common_forenames_month_forms_no_pairs_the_identifiers_rule_out(tmp_path):
    """The second pass's candidates of one forename and one month of birth were every pair of their
    records, met first and filtered after (23.6M at 1M records, 85k kept). 300 children called
    Oliver, born in one April, each held by a school with its UPN and by a GP with its NHS
    number, are 90,000 such pairs, and none can be one child; the pass now joins on what the
    identifiers leave, so no join on the keys forms more rows than there are records."""
    from test_cluster_evidence import input_tables, rec

    from linkage.link.evidence import candidates_sql

    records, children = [], {}
    for i in range(300):
        dob = f"2015-04-{1 + i % 28:02d}"
        for key, ids in ((f"education:{i}", {"upn": f"U{i}"}), (f"health:{i}", {"nhs": f"N{i}"})):
            records.append(rec(key, "oliver", f"family{i}", postcode=f"FY{i % 9} 7TJ", dob=dob, sex="M", **ids))
            children[key] = f"C{i}"
    con = duckdb.connect(str(tmp_path / "pass.duckdb"))
    input_tables(con, records)
    con.register("kids_df", pd.DataFrame({"unique_id": list(children), "cluster_id": list(children.values()),
                                          "upn_root": [f"U{k.split(':')[1]}" if k.startswith("education") else None
                                                       for k in children]}))
    con.execute("CREATE TABLE kids AS SELECT * FROM kids_df")
    sql = candidates_sql("link_input", "kids", "cotwins")
    assert con.execute(sql).fetchall() == []
    plan = json.loads(con.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchall()[0][1])
    assert _keyed_joined(plan) <= len(records)


def _paired(node: dict) -> int:
    """Rows every inner join of an analysed plan gave, together."""
    own = node.get("operator_cardinality", 0) if node.get("extra_info", {}).get("Join Type") == "INNER" else 0
    return own + sum(_paired(c) for c in node.get("children", []))


def test_two_names_a_slip_apart_are_met_once_from_the_rarer():
    """Lexi (250 records) and Lexxi (2) are a slip of one name, and both are rare beside Oliver
    (6,000): each could start the search, and met from both, every Lexi record was paired with
    the Lexxis' names as well as each Lexxi with the Lexis'. Met once, from the rarer, the joins
    form a few rows, and the pairs are those the plain reading gives."""
    from linkage.link.unreached import COUNT_TABLE, counts_sql, typo_pairs_sql

    con = duckdb.connect(config={"threads": 1})
    con.execute("CREATE TABLE ik (n BIGINT, forename VARCHAR, dob DATE, source_dataset VARCHAR, kid BIGINT)")
    rows = [("lexxi", 0), ("lexxi", 40), *[("lexi", day) for day in range(250)], *[("oliver", 0)] * 6000]
    _insert(con, "ik", [(n, f, _MARCH1 + timedelta(day), SOURCES[n % 3], n) for n, (f, day) in enumerate(rows)])
    may_pair = "a.kid <> b.kid AND a.source_dataset <> b.source_dataset"
    sql = f"WITH {COUNT_TABLE} AS ({counts_sql('ik')}) {typo_pairs_sql('ik', may_pair)}"
    got = {tuple(r) for r in con.execute(sql).fetchall()}
    plain = _plain_slips(con, may_pair)
    assert got == plain and len(got) == 2            # each Lexxi with the Lexi of its birthday
    plan = json.loads(con.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchall()[0][1])
    assert _paired(plan) < 100


def _edits(day: str) -> set[str]:
    """The ISO dates one typed character or one transposition of two adjacent ones from ``day``."""
    out = set()
    for i in range(len(day)):
        out |= {day[:i] + c + day[i + 1:] for c in "0123456789"}
        if i + 1 < len(day):
            out.add(day[:i] + day[i + 1] + day[i] + day[i + 2:])
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.dates(date(1990, 1, 1), date(2030, 12, 31)), min_size=1, max_size=6))
def test_a_date_slip_is_tested_only_where_two_of_year_month_and_day_agree(days):
    """``reach``'s keys test a slip in the date of birth (one character typed or two transposed) on
    every pair they meet, 1.75M for one key at 1M records; the edit distance is now computed only
    where two of year, month and day agree, which every such slip leaves. Over dates and every
    valid date a slip from them, the test gives what the edit distance alone gives; and the
    second pass's keyed rows, which carry no written date, test the whole birthday
    (``guards.birthday_sql`` over ``evidence._DATE_TEXT``) as the edit distance over the written one does."""
    from linkage.link.evidence import _DATE_TEXT
    from linkage.link.guards import birthday_sql
    from linkage.link.reach import _slip

    near = {str(d) for d in days}
    for d in days:
        for e in _edits(str(d)):
            try:
                near.add(str(date.fromisoformat(e)))
            except ValueError:
                pass
    con = example_connection()
    con.execute("CREATE TABLE d AS SELECT CAST(x AS DATE) AS dob, CAST(CAST(x AS DATE) AS VARCHAR) AS dob_str "
                "FROM unnest(?) t(x)", [sorted(near)])
    wrong = con.execute(f"SELECT a.dob, b.dob FROM d a, d b WHERE {_slip('a', 'b')} "
                        "IS DISTINCT FROM (damerau_levenshtein(a.dob_str, b.dob_str) <= 1)").fetchall()
    assert wrong == []
    con.execute("CREATE TABLE e AS SELECT dob FROM d")      # no written date
    wrong = con.execute(f"SELECT a.dob, b.dob FROM e a, e b JOIN d x ON x.dob = a.dob JOIN d y ON y.dob = b.dob "
                        f"WHERE {birthday_sql('a', 'b', _DATE_TEXT)} IS DISTINCT FROM (x.dob = y.dob OR (year(x.dob) = "
                        "year(y.dob) AND day(x.dob) = month(y.dob) AND month(x.dob) = day(y.dob)) "
                        "OR damerau_levenshtein(x.dob_str, y.dob_str) <= 1)").fetchall()
    assert wrong == []


def test_the_keyed_rows_carry_only_what_the_ways_read():
    """``evidence._keyed``'s rows are the ones the ways of ``_keyed_pairs`` join (``_KEYED``, the
    property test's table) and no wider: at 1M records they are six million rows, materialised and
    spilt to encrypted temporary files, and a column nothing read cost seconds."""
    from linkage.link.evidence import _keyed

    con = duckdb.connect(config={"threads": 1})
    con.execute("CREATE TABLE ik (n BIGINT, unique_id VARCHAR, kid BIGINT, register VARCHAR, dob DATE, "
                "k_upn UBIGINT, k_nhs UBIGINT, k_sex VARCHAR, f BOOLEAN, forename VARCHAR, "
                "forename_dm VARCHAR, forename_canon VARCHAR, forename_skel VARCHAR, forename_join VARCHAR, "
                "forename_keys VARCHAR[], surname_all VARCHAR[], postcode VARCHAR)")
    con.execute("CREATE TABLE past (unique_id VARCHAR, past_postcode VARCHAR)")
    got = [r[0] for r in con.execute(f"DESCRIBE {_keyed('ik')}").fetchall()]
    assert got == [c.split()[0] for c in _KEYED.split(", ")]


def test_the_keyed_rows_are_numbers_and_a_hash_taken_short_joins_no_two_identifiers():
    """``candidates_sql``'s six million keyed rows at 1M were spilt and read back by every way of
    the join (1.17 GB under the run's 2 GB limit, most of the query's 33 CPU s). Their columns are
    now numbers as narrow as they go: the record and the child as INTEGER, the register by its
    number, the sex as whether it is M, and a child's one UPN and one NHS number as 32 bits of
    their hash. Two UPNs whose 32 bits agree (A000000030850, A000000197178) still name two children:
    the pair they let through is dropped by the identifiers themselves, as it was with whole hashes."""
    from test_cluster_evidence import input_tables, rec

    from linkage.link.evidence import candidates_sql

    con = duckdb.connect(config={"threads": 1})
    same = "A000000030850"
    twin, other = con.execute("SELECT hash(?) & 4294967295 = hash(?) & 4294967295, hash(?) & 4294967295 "
                              "<> hash(?) & 4294967295", [same, "A000000197178", same, "A000000057873"]).fetchone()
    assert twin and other
    records = [rec("education:1", "amelia", "smith", upn=same, postcode="FY5 7TJ"),
               rec("social_care:2", "amelia", "jones", postcode="LS1 4AP")]
    input_tables(con, records)
    sql = candidates_sql("link_input", "kids", "cotwins")
    head = sql.split("\npairs AS (")[0].rstrip().rstrip(",")      # every CTE up to the keyed rows
    for upn in (same, "A000000197178", "A000000057873"):
        con.execute("CREATE OR REPLACE TABLE kids AS SELECT * FROM (VALUES ('education:1', 'C1', ?), "
                    "('social_care:2', 'C2', ?)) k(unique_id, cluster_id, upn_root)", [same, upn])
        if upn == same:
            types = {c: t for c, t, *_ in con.execute(f"DESCRIBE {head} SELECT * FROM keyed").fetchall()}
            assert types == dict(c.split() for c in _KEYED.split(", "))
        got = [(r[0], r[1]) for r in con.execute(sql).fetchall()]
        assert got == ([("education:1", "social_care:2")] if upn == same else [])


def _span_join(node: dict) -> list[int] | None:
    """The rows into the family pairs' join on the birthday's span, each side (an analysed plan)."""
    on = node.get("extra_info", {}).get("Conditions", [])
    if node.get("operator_type") == "HASH_JOIN" and any("near_span" in c for c in (on if isinstance(on, list) else [on])):
        return [c.get("operator_cardinality", 0) for c in node.get("children", [])]
    return next((j for c in node.get("children", []) if (j := _span_join(c)) is not None), None)


_FAMILIES = ("smith", "jones", "brown", "taylor", "wilson", "davies", "evans", "thomas", "roberts", "walker",
             "wright", "green")


def test_the_family_pairs_meet_each_pair_from_one_side_of_the_window():
    """``complement.family_sql`` meets records of one family born within a window by the span of
    their birthdays. Each row looked in its own span, the one before and the one after, so each
    pair was met from both sides and half thrown away: at 1M, 10.2M rows probed the join. Each
    row now looks in its own span and the next (two rows per record and partner set, not three),
    and the pairs are the same: twins a day apart across a span's edge, and brothers born in one span."""
    from test_cluster_evidence import input_tables, rec

    from linkage.link.complement import family_sql

    records, children = [], {}
    for i in range(12):       # a school child and a GP child of one family, born a day or a month apart
        for key, dob in ((f"education:{i}", date(2014, 1, 1) + timedelta(days=29 * i)),
                         (f"health:{i}", date(2014, 1, 2) + timedelta(days=29 * i + (i % 3) * 10))):
            records.append(rec(key, "harry", _FAMILIES[i], postcode=f"FY{i} 7TJ", dob=str(dob), sex="M"))
            children[key] = f"C{key}"
    con = duckdb.connect(config={"threads": 1})
    input_tables(con, records)
    con.register("kids_df", pd.DataFrame({"unique_id": list(children), "cluster_id": list(children.values()),
                                          "upn_root": [None] * len(children)}).astype("string"))
    con.execute("CREATE TABLE kids AS SELECT * FROM kids_df")
    sql = family_sql("link_input", "kids")
    got = sorted((l, r) for l, r, *_ in con.execute(sql).fetchall())
    assert got == sorted((f"education:{i}", f"health:{i}") for i in range(12))
    plan = json.loads(con.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchall()[0][1])
    sides = _span_join(plan)
    assert sides and max(sides) <= 2 * min(sides)
