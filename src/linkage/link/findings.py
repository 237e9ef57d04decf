"""Data-quality findings a linkage run leaves for the data manager to put right at source.

"Two UPNs for one pupil": a child whose current records hold two or more permanent UPNs
that no FormerUPN ties together. Schools sometimes issue a new UPN; DfE guidance is to
revert to the first, or keep the second and record the first as FormerUPN (census
validation error 1520). The linker joins such records only on exact agreement of names,
date of birth and address (link/cluster.py), and lists them here to be corrected.
"""

from __future__ import annotations

from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.store import Store
from linkage.store.schema import t

__all__ = ["TWO_UPNS", "upn_findings"]

TWO_UPNS = "two UPNs for one pupil"


def upn_findings(store: Store) -> list[dict]:
    """Children holding unreconciled UPNs: child id, the UPNs and the records holding each."""
    rows = store.rows(f"""
WITH r AS ({CURRENT_RECORDS_SQL})
SELECT i.child_id, r.record_key, r.upn, r.former_upn
FROM r JOIN {t('identity')} i USING (record_key)
WHERE r.upn IS NOT NULL AND NOT regexp_matches(r.upn, '[A-Z]$')
  AND i.child_id IN (
    SELECT i2.child_id FROM r r2 JOIN {t('identity')} i2 USING (record_key)
    WHERE r2.upn IS NOT NULL AND NOT regexp_matches(r2.upn, '[A-Z]$')
    GROUP BY i2.child_id HAVING count(DISTINCT r2.upn) > 1)
ORDER BY i.child_id, r.record_key""")
    by_child: dict[str, list[tuple[str, str, str | None]]] = {}
    for child, key, upn, former in rows:
        by_child.setdefault(child, []).append((key, upn, former))
    out = []
    for child, recs in by_child.items():
        parent: dict[str, str] = {}

        def root(u: str) -> str:
            while parent.setdefault(u, u) != u:
                u = parent[u]
            return u

        for _, upn, former in recs:
            if former:
                parent[root(upn)] = root(former)
        groups: dict[str, list[str]] = {}
        for key, upn, _ in recs:
            groups.setdefault(root(upn), []).append(f"{upn} ({key})")
        if len(groups) > 1:
            out.append({"finding": TWO_UPNS, "child_id": child,
                        "upns": sorted({u for _, u, _ in recs}),
                        "records": sorted(k for k, _, _ in recs)})
    return out
