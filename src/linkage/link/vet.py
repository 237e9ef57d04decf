"""Every link a run makes goes through the twin and sibling checks, in every pass.

The first pass clusters the scored pairs under the twin guard (``constrained_clusters``), then
takes out the links of each record that fits two children nearly equally well, or that a sibling
child fits as well as its own (``cluster.ambiguous_records``, ``guards.second_child_sql``), and
clusters those components again. That second clustering forms links the first refused (a pair
kept out only by the ambiguous record), and they are new links like any other: a GP's Maisie
joined to Macy's child once Macy's ambiguous social care record has left it, while Maisie's own
school record is another child. So the checks run again over what was clustered again, until
they find no one new (``refuse_ambiguous``). Only the links the clustering formed are looked at
again, and only their records: a record whose own links stand is not judged twice.

The second, cluster-level pass (``evidence``, ``unique``) joins two children on a record pair; it
skips pairs of children the guard keeps apart, but a join is also a link whose records a sibling
may fit as well, and two joins may together put a guarded pair, or two NHS numbers, in one child.
``vet_joins`` puts each join through the same checks after all the joins are made, and sends
the joins they refuse to the review queue instead (a reviewer, not the run, says which child).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import duckdb
import pandas as pd
import pyarrow as pa

from linkage.link.cluster import components_of
from linkage.link.evidence import ClusterPass
from linkage.link.guards import SECOND_CHILD_COLUMNS, second_child_sql, swapped_sql
from linkage.store import registered

__all__ = ["Clusterer", "Finder", "refuse_ambiguous", "second_children", "vet_joins"]

# (links, records) -> (record -> cluster, refused pairs): ``constrained_clusters`` over those links.
Clusterer = Callable[[pd.DataFrame, list[str]], tuple[dict[str, str], list[tuple[str, str]]]]
# (record -> cluster, links, records looked at or None for all) -> record -> (own partner, other).
Finder = Callable[[dict[str, str], pd.DataFrame, "set[str] | None"], dict[str, tuple[str, str]]]


def second_children(con: duckdb.DuckDBPyConnection, input_table: str, cluster_of: dict[str, str],
                    links: pd.DataFrame, rows: str | None = None) -> dict[str, tuple[str, str]]:
    """Records linked under another forename that a sibling child fits as well
    (``guards.second_child_sql`` over ``input_table``, the engine's ``link_input`` or a test's):
    record -> (its partner, the sibling's record), the first of each record's in key order.

    ``rows`` (a month's working set, ``narrow``'s table of some of ``input_table``'s rows): the
    links' own records are read from it, and from ``input_table`` only those it lacks (none in
    the first pass, a few of the second pass's joins); the siblings are still found in
    ``input_table``. A month's links otherwise scanned the million stored rows three times a call."""
    if links.empty:
        return {}
    # The query needs the children of the links' records only; whether a sibling's child is
    # another is asked here, of the few found (a million records' map, made a table for each of a
    # run's calls, cost a third of a call of a few hundred links).
    ends = (cluster_of if 4 * len(links) >= len(cluster_of) else
            {k: cluster_of[k] for k in {*links["unique_id_l"], *links["unique_id_r"]} if k in cluster_of})
    clusters = pa.table({"unique_id": pa.array(list(ends), pa.string()),
                         "cluster_id": pa.array(list(ends.values()), pa.string())})
    with registered(con, _second_links_df=links[["unique_id_l", "unique_id_r"]], _second_clusters_df=clusters):
        ends = input_table if rows is None else _link_ends(con, "_second_links_df", input_table, rows)
        found = con.execute(second_child_sql(_differing("_second_links_df", ends), input_table,
                                             "_second_clusters_df", siblings_child=False, ends_table=ends)
                            + " ORDER BY 1, 2, 3").fetchall()
    out: dict[str, tuple[str, str]] = {}
    for y, x, s, c in found:
        if cluster_of.get(s) != c:      # outside the map (a month's kept children): another child
            out.setdefault(y, (x, s))
    return out


def _link_ends(con: duckdb.DuckDBPyConnection, links: str, input_table: str, rows: str) -> str:
    """A table of the check's columns of every record ``links`` names: from ``rows`` those it
    holds, the rest (if any) from ``input_table``, so a record ``rows`` lacks is still read."""
    cols = SECOND_CHILD_COLUMNS
    con.execute(f"""CREATE OR REPLACE TABLE memory.second_keys AS
SELECT DISTINCT k FROM (SELECT unique_id_l AS k FROM {links} UNION ALL SELECT unique_id_r FROM {links})""")
    con.execute(f"CREATE OR REPLACE TABLE memory.second_ends AS SELECT {cols} FROM {rows} "
                "WHERE unique_id IN (SELECT k FROM memory.second_keys)")
    con.execute("CREATE OR REPLACE TABLE memory.second_lacking AS SELECT k FROM memory.second_keys "
                "WHERE k NOT IN (SELECT unique_id FROM memory.second_ends)")
    if con.execute("SELECT count(*) FROM memory.second_lacking").fetchone()[0]:
        con.execute(f"INSERT INTO memory.second_ends SELECT {cols} FROM {input_table} "
                    "WHERE unique_id IN (SELECT k FROM memory.second_lacking)")
    return "memory.second_ends"


def _differing(links: str, input_table: str) -> str:
    """The links of ``links`` whose two forenames differ, or are missing, or which are swapped
    (``guards.swapped_sql``): a link of one forename, not swapped, is no record ``second_child_sql``
    asks about, and at a million records those are some 499,000 of 546,000 links, whose every
    record the query would otherwise read and join whole."""
    return f"""(SELECT e.unique_id_l, e.unique_id_r FROM {links} e
JOIN (SELECT unique_id, forename, surname, surname_all, forename_family FROM {input_table}) x
  ON x.unique_id = e.unique_id_l
JOIN (SELECT unique_id, forename, surname, surname_all, forename_family FROM {input_table}) y
  ON y.unique_id = e.unique_id_r
WHERE NOT (coalesce(x.forename = y.forename, false) AND NOT {swapped_sql('x', 'y')}))"""


def _touching(links: pd.DataFrame, keys: Iterable[str]) -> pd.Series:
    keys = set(keys)
    return links["unique_id_l"].isin(keys) | links["unique_id_r"].isin(keys)


def refuse_ambiguous(cluster_of: dict[str, str], refused: list[tuple[str, str]], linkable: pd.DataFrame,
                     cluster: Clusterer, find: Finder) -> tuple[dict[str, str], list[tuple[str, str]],
                                                                 pd.DataFrame, dict[str, tuple[str, str]]]:
    """(clusters, refused pairs, links kept, ambiguous records): ``find``'s records lose their
    links, their components are clustered again, and ``find`` looks at the links that clustering
    formed (and their records), until it finds no record it had not found. Terminates: each round
    adds records, never removes."""
    cluster_of = dict(cluster_of)
    ambiguous: dict[str, tuple[str, str]] = {}
    new = find(cluster_of, linkable, None)
    while new:
        ambiguous.update(new)
        linkable = linkable[~_touching(linkable, ambiguous)]
        # Only the components holding a new ambiguous record can cluster differently without its links.
        again = components_of(cluster_of, refused, new)
        inside = linkable["unique_id_l"].isin(again) & linkable["unique_id_r"].isin(again)
        part, part_refused = cluster(linkable[inside], sorted(again))
        links = linkable[inside]
        # The links this clustering formed: two records in one child that were not before.
        formed = links[pd.Series([part[a] == part[b] and cluster_of[a] != cluster_of[b]
                                  for a, b in zip(links["unique_id_l"], links["unique_id_r"])],
                                 index=links.index, dtype=bool)]
        cluster_of.update(part)
        refused = [p for p in refused if p[0] not in again] + part_refused
        ends = set(formed["unique_id_l"]) | set(formed["unique_id_r"])
        new = {k: v for k, v in find(cluster_of, formed, ends).items() if k in ends and k not in ambiguous}
    return cluster_of, refused, linkable, ambiguous


def _more_numbers(parts: dict[str, list[str]], identifiers: dict[str, dict[str, str | None]]) -> bool:
    """The children joined (``parts``: child -> its records) hold together more NHS numbers than
    any one of them held (a UPN may be a second one of one pupil; an NHS number is not)."""
    held = [{identifiers.get(k, {}).get("nhs") for k in keys} - {None, ""} for keys in parts.values()]
    return len(set().union(*held)) > max(map(len, held))


def vet_joins(found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]],
              identifiers: dict[str, dict[str, str | None]],
              siblings: Callable[[dict[str, str], pd.DataFrame], dict[str, tuple[str, str]]],
              sibling_reason: str, refused_reason: str) -> list[tuple[str, str]]:
    """Move from ``found.links`` to ``found.queue`` each join that, with all the joins made, links
    a record a sibling child fits as well (``siblings``: ``second_children``), or puts
    in one child two records the guard or a reviewer keeps apart (``apart``) or two NHS numbers.
    A join refused for the child it makes refuses every join into that child: which of them is
    wrong is a reviewer's call. Repeats until every join left passes; returns the joins refused."""
    apart = list(apart)
    refused_all: list[tuple[str, str]] = []
    while found.links:
        merged = found.apply(cluster_of)
        links = pd.DataFrame(found.links, columns=["unique_id_l", "unique_id_r"])
        flagged = siblings(merged, links)
        why = {p: sibling_reason for p in found.links if p[0] in flagged or p[1] in flagged}
        joined = {merged[a] for a, _ in found.links}
        parts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for k, c in cluster_of.items():
            if merged[k] in joined:
                parts[merged[k]][c].append(k)
        bad = {merged[a] for a, b in apart if a in merged and b in merged and merged[a] == merged[b]
               and cluster_of[a] != cluster_of[b]}
        bad |= {c for c in joined if _more_numbers(parts[c], identifiers)}
        why.update({p: refused_reason for p in found.links if merged[p[0]] in bad and p not in why})
        if not why:
            break
        found.links[:] = [p for p in found.links if p not in why]
        found.queue.extend((a, b, reason) for (a, b), reason in sorted(why.items()))
        refused_all.extend(sorted(why))
    return refused_all
