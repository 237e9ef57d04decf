"""Two stores built from the same extracts by two versions of the code: are they the same?

    python benchmarks/compare_stores.py /tmp/s18derive/bd-before /tmp/s18derive/bd-after

Compares, as Arrow tables in a fixed order, the records, the quarantine, every other table
holding rows (the link's too: edges, identity, review queue, runs), the input cache (without
``raw_sha``, a hash of the deriving SQL itself) and the co-twin pairs. Left out: ``extract_id``
(numbering only) and the moments a row was written (``_WHEN``). A child identifier is minted at
random, so each is compared as its child's first record key: two runs that form the same
children compare equal. Prints one line a table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from linkage.store import Store
from linkage.store.schema import t

_SKIP = {"records", "quarantine", "extracts", "link_input_cache", "link_cotwin_cache"}
_WHEN = {"extract_id", "started_at", "finished_at", "created_at", "changed_at", "ingested_at", "decided_at"}
_CHILD = {"child_id", "other_child_id", "alias_of"}


def _table_sql(store: Store, name: str) -> str:
    """The table's rows in a fixed order, without ``_WHEN``, each child id as its first record."""
    cols = [c for (c,) in store.rows("SELECT column_name FROM duckdb_columns() WHERE database_name = 'store' "
                                     "AND table_name = ? ORDER BY column_index", [name]) if c not in _WHEN]
    canon = f"(SELECT child_id AS cid, min(record_key) AS first FROM {t('identity')} GROUP BY child_id)"
    shown = [f"coalesce((SELECT first FROM {canon} WHERE cid = x.{c}), x.{c}) AS {c}" if c in _CHILD else f"x.{c}"
             for c in cols]
    return f"SELECT * FROM (SELECT {', '.join(shown)} FROM {t(name)} x) ORDER BY ALL"


def main(a: Path, b: Path) -> int:
    left, right = Store(a), Store(b)
    checks = {"records": f"SELECT * EXCLUDE (extract_id) FROM {t('records')} ORDER BY record_key",
              "quarantine": f"SELECT * EXCLUDE (extract_id) FROM {t('quarantine')} ORDER BY ALL",
              "input cache": f"SELECT * EXCLUDE (raw_sha) FROM {t('link_input_cache')} ORDER BY unique_id",
              "co-twin pairs": f"SELECT * FROM {t('link_cotwin_cache')} ORDER BY ALL"}
    for (name,) in left.rows("SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' ORDER BY 1"):
        if name not in _SKIP and left.scalar(f"SELECT count(*) FROM {t(name)}"):
            checks[name] = _table_sql(left, name)
    differ = 0
    for name, sql in checks.items():
        x, y = (s.connection.execute(sql).fetch_arrow_table() for s in (left, right))
        same = x.equals(y)
        differ += not same
        print(f"{name:24} {x.num_rows:9,} rows against {y.num_rows:9,}  {'same' if same else 'DIFFERENT'}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
