"""What ``linkage status`` reports: each source's current extract, the last run, the queues."""

from __future__ import annotations

from linkage.store.schema import CURRENT_RECORDS_SQL, t
from linkage.views.quarantine import current_counts

__all__ = ["status_summary"]


def status_summary(con) -> dict:
    """Counts from current (not superseded) extracts only, quarantine included. The current extract
    is named by its whole file, with how many amendments it has: named by the latest file read (an
    AP roll of four pupils read with --amend), the census looked replaced by it."""
    sources = [dict(zip(("source", "current_extract", "extract_date", "rows", "accepted", "quarantined",
                         "older_extracts"), r)) for r in con.execute(f"""
        SELECT source, arg_max(file_name, extract_id) FILTER (WHERE superseded_by IS NULL AND amends IS NULL)
               || CASE count(*) FILTER (WHERE superseded_by IS NULL AND amends IS NOT NULL) WHEN 0 THEN ''
                  WHEN 1 THEN ' + 1 amendment'
                  ELSE ' + ' || count(*) FILTER (WHERE superseded_by IS NULL AND amends IS NOT NULL) || ' amendments'
                  END,
               max(extract_date) FILTER (WHERE superseded_by IS NULL),
               sum(rows_read) FILTER (WHERE superseded_by IS NULL), sum(accepted) FILTER (WHERE superseded_by IS NULL),
               sum(quarantined) FILTER (WHERE superseded_by IS NULL), count(*) FILTER (WHERE superseded_by IS NOT NULL)
        FROM {t('extracts')} GROUP BY source ORDER BY source""").fetchall()]
    # Records now, beside the rows read: an amendment's rows add to `accepted`, a record they replace
    # stays one record (a corrected file of 103 rows over 263 records: 366 accepted, 263 records).
    records = dict(con.execute(f"SELECT source, count(*) FROM ({CURRENT_RECORDS_SQL}) GROUP BY source").fetchall())
    for s in sources:
        s["records"] = int(records.get(s["source"], 0))
    last = con.execute(f"SELECT run_id, finished_at, mode, records, children, new_ids, merges, splits "
                       f"FROM {t('runs')} ORDER BY run_id DESC LIMIT 1").fetchall()
    run = dict(zip(("run_id", "finished_at", "mode", "records", "children", "new_ids", "merges", "splits"),
                   last[0])) if last else None
    review = con.execute(f"SELECT count(*) FROM {t('review_queue')} WHERE status = 'open'").fetchone()[0]
    return {"sources": sources, "last_run": run, "quarantine": current_counts(con), "review_open": int(review)}
