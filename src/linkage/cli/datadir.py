"""``linkage status`` and ``linkage vacuum``: the data directory as a whole."""

from __future__ import annotations

from linkage.cli.common import DataDir, _fail, _failures, _reading, _store, console
from linkage.cli.output import Format, FormatOption, emit, emit_json
from linkage.errors import LinkageError


def vacuum(data_dir_: DataDir = None) -> None:
    """Compact the database: rewrite it into a fresh encrypted file and swap it in atomically.

    Runs that were killed or failed leave space in the file that DuckDB never returns; the next
    ingest or link compacts automatically, and this does it on demand. Needs no other process using it.
    """
    with _failures(data_dir_):
        store = _store(data_dir_)
        try:
            if store.compacted:
                before, after = store.compacted
            else:
                before, after = store.vacuum()
        finally:
            store.close()
    console.print(f"compacted {store.path}: {before:,} -> {after:,} bytes")


def status(fmt: FormatOption = Format.table, data_dir_: DataDir = None) -> None:
    """Sources, counts, the last run, and the quarantine (current extracts only) and review queues."""
    from linkage.views.status import status_summary

    try:
        with _reading(data_dir_) as store:
            summary = status_summary(store.connection)
    except LinkageError as exc:
        _fail(exc)
    header = ["source", "current extract", "extract date", "rows", "accepted", "records", "quarantined",
              "older extracts"]
    rows = [[s[h.replace(" ", "_")] for h in header] for s in summary["sources"]]
    if fmt == Format.json:
        emit_json(summary)
        return
    emit(header, rows, fmt)
    if fmt == Format.csv:
        return
    r = summary["last_run"]
    if r:
        console.print(f"last run {r['run_id']} at {r['finished_at']:%Y-%m-%d %H:%M} UTC ({r['mode']}): "
                      f"{r['records']} records, {r['children']} children, {r['new_ids']} new ids, "
                      f"{r['merges']} merges, {r['splits']} splits (`linkage changes` lists them)")
    else:
        console.print("no linkage run yet: run `linkage link`")
    q = summary["quarantine"]
    by = ", ".join(f"{n} {sev}" for sev, n in q["by_severity"].items())
    console.print(f"quarantine: {q['rows']} rows in current extracts" + (f" ({by})" if by else "")
                  + f"; clerical review queue: {summary['review_open']} open pairs")

