"""Record lookups for clustering and the queue (a ``LinkEngine`` component): identifiers and UPN
histories, and the pair and record facts the clustering and the review queue ask of the input."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from linkage.link.bridge import RecordFacts
from linkage.link.engine_input import INPUT, ON_ROLL
from linkage.link.namesql import middle_name
from linkage.link.rival import middle_no_rivals, no_rivals
from linkage.link.secondid import one_child_pairs, second_upn_sql, unrelated_sql
from linkage.link.swaps import unpicked_swaps
from linkage.link.vet import second_children
from linkage.store import registered

__all__ = ["RecordLookups"]


class RecordLookups:
    """What the clustering asks of records and pairs (a ``LinkEngine`` component)."""

    def identifiers(self, scope: str | None = None) -> dict[str, dict[str, str | None]]:
        """Each record's NHS number and UPN, the UPN mapped to the root of its history (followed
        through every record); only the records in the table ``scope`` (column ``k``) if given."""
        roots = self._upn_roots()
        where = f" WHERE unique_id IN (SELECT k FROM {scope})" if scope else ""
        rows = self.con.execute(f"SELECT unique_id, nhs_number, upn FROM memory.{INPUT}{where}").fetchall()
        return {k: {"nhs": nhs, "upn": roots.get(upn, upn) if upn else None} for k, nhs, upn in rows}

    def _upn_roots(self) -> dict[str, str]:
        """Each UPN that a FormerUPN history maps elsewhere -> the root of that history."""
        history: dict[str, str] = {}

        def root(u: str) -> str:
            while history.get(u, u) != u:
                u = history[u]
            return u

        pairs = self.con.execute(f"SELECT upn, former_upn FROM memory.{INPUT} "
                                 "WHERE upn IS NOT NULL AND former_upn IS NOT NULL").fetchall()
        for upn, former in pairs:
            if root(upn) != root(former):
                history[root(upn)] = root(former)
        return {u: root(u) for u in {x for pair in pairs for x in pair} if root(u) != u}

    def narrow(self, keys: Iterable[str]) -> None:
        """From now on pair lookups (``second_upn_pairs``, ``unrelated_names``, ``one_child``) read only
        the records ``keys`` (every record any later pair names): a delta's few thousand rows
        copied once, rather than every stored row read for each lookup."""
        with registered(self.con, _narrow_df=pd.DataFrame({"k": pd.Series(sorted(set(keys)), dtype=object)})):
            self.con.execute(f"CREATE OR REPLACE TABLE memory.link_rows AS SELECT * FROM memory.{INPUT} "
                             "WHERE unique_id IN (SELECT k FROM _narrow_df)")
        self._rows = "memory.link_rows"

    def second_upn_pairs(self) -> list[tuple[str, str]]:
        """Pairs of records holding two UPNs whose forename, surname, date of birth and address
        agree exactly, with no other field against them and no twin on either side: one
        pupil, even if the schools gave two UPNs (``cluster.constrained_clusters``' ``soft_upn``).
        The two holders themselves, not whichever pair of records happens to join their
        children: Isla's GP record, exactly her school record, says nothing of Isha's UPN.
        Read by ``secondid.second_upn_sql``."""
        return [tuple(r) for r in self.con.execute(
            second_upn_sql(self._rows, "memory.cotwins", f"memory.{ON_ROLL}")).fetchall()]

    def unpicked_swaps(self, pairs: pd.DataFrame) -> set[frozenset]:
        """Swapped pairs between two namesakes that nothing else picks (``swaps``): not linked."""
        return unpicked_swaps(self.con, self._rows, pairs, f"memory.{INPUT}")

    def unrelated_names(self, pairs: pd.DataFrame) -> set[frozenset]:
        """Pairs whose forenames share nothing: not alike (Jaro-Winkler < 0.75, first words or the
        whole forenames run together: Tzu Hao, Zihao), not one name,
        not swapped with a surname, not a middle name used, not even the same initial, not one
        sound or one set of consonants. Twins
        Tilly and Olivia: the guard keeps them apart and a reviewer has nothing to decide."""
        if pairs.empty:
            return set()
        with registered(self.con, _unrel_df=pairs[["unique_id_l", "unique_id_r"]]):
            return {frozenset(r) for r in self.con.execute(f"""
SELECT e.unique_id_l, e.unique_id_r FROM _unrel_df e
JOIN {self._rows} l ON l.unique_id = e.unique_id_l
JOIN {self._rows} r ON r.unique_id = e.unique_id_r
WHERE {unrelated_sql('l', 'r')}""").fetchall()}

    def second_children(self, cluster_of: dict[str, str], links: pd.DataFrame) -> dict[str, tuple[str, str]]:
        """Records linked under another forename that a sibling child fits as well
        (``vet.second_children``): record -> (its partner, the sibling's record). After ``narrow``
        the links' records are read from its table where it holds them."""
        rows = None if self._rows == f"memory.{INPUT}" else self._rows
        return second_children(self.con, f"memory.{INPUT}", cluster_of, links, rows=rows)

    def no_rivals(self, triples: list[tuple[str, str, str]], cluster_of: dict[str, str],
                  guarded: set[frozenset], identifiers: dict[str, dict[str, str | None]]) -> set[tuple[str, str]]:
        """Of (record, own partner, partner elsewhere) triples whose second pair the guard keeps
        apart (``guarded``), the (record, partner elsewhere) that is no rival (``rival``); of every
        triple, those whose middle name says which child the record is (``rival.middle_no_rivals``)."""
        return no_rivals(self.con, [t for t in triples if frozenset((t[0], t[2])) in guarded], cluster_of,
                         identifiers, self._rows, "memory.forename_counts", "memory.cotwins", "memory.cotwin_pairs") \
            | middle_no_rivals(self.con, triples, cluster_of, f"memory.{INPUT}")

    def record_facts(self, keys: Iterable[str]) -> dict[str, RecordFacts]:
        """Source, sex, first middle name, whether it has a co-twin, forename and whether that is
        rare here (held by at most ``RARE`` records), of each of ``keys`` (``bridge``)."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        with registered(self.con, _facts_df=pd.DataFrame({"k": pd.Series(keys, dtype=object)})):
            rows = self.con.execute(f"""
WITH x AS (SELECT i.* FROM memory.{INPUT} i SEMI JOIN _facts_df f ON f.k = i.unique_id)
SELECT x.unique_id, x.source_dataset, x.sex, nullif({middle_name('x.middle_names')}, ''),
       x.unique_id IN (SELECT unique_id FROM memory.cotwin_pairs), x.forename, coalesce(n.rare, true)
FROM x LEFT JOIN memory.forename_counts n USING (forename)""").fetchall()
        return {k: RecordFacts(src, sex, mid, bool(twin), fore, bool(rare))
                for k, src, sex, mid, twin, fore, rare in rows}

    def one_child(self, pairs: pd.DataFrame, cluster_of: dict[str, str] | None = None) -> set[frozenset]:
        """Pairs that look like one child under a second identifier (``secondid``; with
        ``cluster_of``, a forename typed in one of them too)."""
        return one_child_pairs(self.con, pairs, self._rows, "memory.cotwins", cluster_of)
