"""The second, cluster-level pass (a ``LinkEngine`` component, as Splink's ``linker.clustering``):
the run's clusters put in view, their candidates, and each kind of evidence (``evidence``,
``unique``, ``complement``, ``household``, ``decoys``, ``reach``, ``changed``, ``movedin``, ``reissued``,
``romanised``, ``slipped``, ``transposed``, ``retyped``, ``scripthome``, ``middleday``,
``heldtwice``)
deciding on them."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from linkage.link.changed import changed_pairs
from linkage.link.complement import family_pairs, partner_cohorts, shared_identifiers
from linkage.link.decoys import decoy_pairs
from linkage.link.engine_input import INPUT
from linkage.link.heldtwice import heldtwice_pairs
from linkage.link.evidence import ClusterPass, candidates_sql, clusters_arrow, decide
from linkage.link.household import household_pairs
from linkage.link.middleday import middleday_pairs
from linkage.link.movedin import movedin_pairs
from linkage.link.reach import reach_pairs
from linkage.link.retyped import retyped_pairs
from linkage.link.reissued import reissued_pairs
from linkage.link.romanised import romanised_pairs
from linkage.link.scripthome import scripthome_pairs
from linkage.link.slipped import slipped_pairs
from linkage.link.transposed import transposed_pairs
from linkage.link.unique import link_unique
from linkage.store import registered
from linkage.store.schema import t

__all__ = ["REACHED_COLUMNS", "SecondPass", "reached_rows_sql"]

# The input columns the rules given ``_reached_rows`` read (``reach``, ``reissued``, ``romanised``,
# ``slipped``, ``transposed``, ``scripthome``, ``middleday``, and ``complement.family_sql`` for its records: their keys, names, name
# keys, homes and the children's identifiers).
REACHED_COLUMNS = ("unique_id", "source_dataset", "forename", "surname", "dob", "postcode", "address", "middle_names",
                   "forename_keys", "forename_skel", "forename_abjad", "forename_family", "surname_all", "forename_dm",
                   "forename_full", "forename_join", "forename_near", "nhs_number", "sex")


def reached_rows_sql(input_table: str, clusters_table: str) -> str:
    """``REACHED_COLUMNS`` of the records of ``clusters_table`` (pure SQL)."""
    return (f"SELECT {', '.join(REACHED_COLUMNS)} FROM {input_table} "
            f"WHERE unique_id IN (SELECT unique_id FROM {clusters_table})")


class SecondPass:
    """The cluster-level pass (a ``LinkEngine`` component)."""

    def _clusters_table(self, cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]]) -> None:
        with registered(self.con, _clusters_df=clusters_arrow(cluster_of, identifiers)):
            self.con.execute("CREATE OR REPLACE TABLE memory.link_clusters AS SELECT * FROM _clusters_df")
        # Earlier postcodes the sources hold for these records (one row per address, a column of
        # previous postcodes): homes the records meet others by, and their children's history.
        self.con.execute(f"CREATE OR REPLACE TABLE memory.link_past AS SELECT DISTINCT h.record_key AS unique_id, "
                         f"h.postcode FROM {t('address_history')} h SEMI JOIN memory.{INPUT} x "
                         "ON x.unique_id = h.record_key WHERE h.postcode IS NOT NULL")

    def outside_candidates(self, cluster_of: dict[str, str],
                           identifiers: dict[str, dict[str, str | None]]) -> set[str]:
        """A month's second pass sees only the children it reached (``cluster_of``), yet a full
        relink's pass counts every candidate of theirs (``unique``: a second candidate of any kind
        leaves a pair to a reviewer). Every other current record is put in view under the child it
        kept (``memory.link_population``, which ``cluster_pass`` then counts cohorts over), and
        the records of kept children that the reached records' keys meet as candidates are
        returned (to be reached as well)."""
        self.population(cluster_of, identifiers)
        rows = self.con.execute(candidates_sql(f"memory.{INPUT}", "memory.link_population", "memory.cotwins",
                                               "memory.link_past", focus="memory.link_clusters")).fetchall()
        return {k for row in rows for k in row[:2] if k not in cluster_of}

    def population(self, cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]]) -> None:
        """``memory.link_population``: ``cluster_of``'s records in their clusters, every other current
        record under the child it kept (a month's view of the whole population)."""
        self._clusters_table(cluster_of, identifiers)
        roots = self._upn_roots()
        frame = pd.DataFrame({"upn": pd.Series(list(roots), dtype=object),
                              "root": pd.Series(list(roots.values()), dtype=object)})
        with registered(self.con, _roots_df=frame):
            self.con.execute(f"""CREATE OR REPLACE TABLE memory.link_population AS
SELECT * FROM memory.link_clusters UNION ALL
SELECT x.unique_id, 'kept:' || i.child_id, coalesce(r.root, x.upn), x.nhs_number
FROM memory.{INPUT} x JOIN {t('identity')} i ON i.record_key = x.unique_id LEFT JOIN _roots_df r ON r.upn = x.upn
WHERE x.unique_id NOT IN (SELECT unique_id FROM memory.link_clusters)""")

    def _reached_rows(self, cluster_of: dict[str, str]) -> str:
        """The input for the rules that read no record outside the pass's clusters (``reach``,
        ``reissued``, ``romanised``, ``slipped``, ``transposed``, ``scripthome``, ``middleday``; ``family_sql`` reads the input
        only for its population counts). In a month (clusters of some records only) it is their
        records' rows (``memory.link_reached``), read from the cached million once instead of once
        or more by each rule; in a full run, the input."""
        if len(cluster_of) >= self.count():
            return f"memory.{INPUT}"
        self.con.execute(f"CREATE OR REPLACE TABLE memory.link_reached AS "
                         f"{reached_rows_sql(f'memory.{INPUT}', 'memory.link_clusters')}")
        return "memory.link_reached"

    def _candidates(self) -> pd.DataFrame:
        """``candidates_sql`` over the run's clusters (a stage of its own: the pass's largest join)."""
        return self.con.execute(candidates_sql(f"memory.{INPUT}", "memory.link_clusters", "memory.cotwins",
                                               "memory.link_past")).df()

    def cluster_pass(self, cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]],
                     apart: Iterable[tuple[str, str]], population: bool = False,
                     denied: Iterable[tuple[str, str]] = ()) -> ClusterPass:
        """The second, cluster-level pass (``evidence``): pairs of children to join or to queue.
        ``apart``: record pairs the twin guard or a reviewer keeps apart; ``population``: count the
        children that could be a pair's other half over ``outside_candidates``' whole population
        (a month's), not only over ``cluster_of`` (a full run's every record); ``denied``: the
        record pairs of ``apart`` a reviewer keeps apart (``reissued`` reads the guard's)."""
        self._clusters_table(cluster_of, identifiers)
        rows = self._candidates()
        rows = partner_cohorts(self.con, rows, f"memory.{INPUT}",
                               "memory.link_population" if population else "memory.link_clusters")
        apart = list(apart)
        found = decide(rows.to_dict("records"), apart, cluster_of)
        found.pairs = list(zip(rows["l"], rows["r"])) if not rows.empty else []
        link_unique(rows, found, cluster_of, apart)
        reached = self._reached_rows(cluster_of)
        family_pairs(self.con, f"memory.{INPUT}", "memory.link_clusters", found, cluster_of, apart, reached)
        shared_identifiers(self.con, "memory.link_clusters", found, cluster_of, apart)
        household_pairs(self.con, rows, f"memory.{INPUT}", "memory.link_clusters", found, cluster_of, apart)
        decoy_pairs(rows, found, cluster_of, apart)
        reach_pairs(self.con, reached, "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        changed_pairs(self.con, rows, f"memory.{INPUT}", "memory.link_clusters", found, cluster_of, apart)
        movedin_pairs(self.con, rows, f"memory.{INPUT}", "memory.link_clusters", found, cluster_of, apart)
        reissued_pairs(self.con, reached, "memory.link_clusters", "memory.cotwin_pairs", found, cluster_of,
                       identifiers, denied)
        romanised_pairs(self.con, reached, "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        slipped_pairs(self.con, reached, "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        transposed_pairs(self.con, reached, "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        # (``retyped`` counts spellings over the whole input and narrows its records itself.)
        retyped_pairs(self.con, f"memory.{INPUT}", "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        scripthome_pairs(self.con, reached, "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        middleday_pairs(self.con, reached, "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        heldtwice_pairs(self.con, reached, "memory.link_clusters", "memory.cotwins", found, cluster_of, apart)
        for table in ("link_clusters", "link_past", "link_population", "link_reached"):
            self.con.execute(f"DROP TABLE IF EXISTS memory.{table}")
        return found
