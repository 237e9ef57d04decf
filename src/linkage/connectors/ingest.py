"""Ingest one extract: validate every row, store accepted rows, quarantine the rest.

Accepted plus quarantined always equals rows read, and the whole file commits
as one unit or not at all.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd

from linkage.connectors.mapping import Mapping, default_mapping_path, load_mapping
from linkage.connectors.readers import ConnectorError, file_sha256, open_extract
from linkage.errors import Problem
from linkage.store import Store
from linkage.store.schema import STD_NAME_FIELDS, t
from linkage.validation import normalise_name

__all__ = ["IngestResult", "ingest_file"]


@dataclass
class IngestResult:
    source: str
    file_name: str
    extract_id: int | None
    rows_read: int
    accepted: int
    quarantined: int
    already_ingested: bool = False
    superseded: int | None = None
    problems_sample: list[tuple[int, str, str]] | None = None


def _connector(source: str):
    from linkage.connectors import CONNECTORS

    try:
        return CONNECTORS[source]()
    except KeyError:
        raise ConnectorError(f"unknown source {source!r}; choose from {sorted(CONNECTORS)}") from None


def _check_columns(columns: list[str], mapping: Mapping, file_name: str) -> list[str]:
    """Missing required columns stop the file; missing optional ones are reported."""
    missing_required = [c for c in mapping.required_columns() if c not in columns]
    if missing_required:
        raise ConnectorError(
            f"{file_name} lacks required columns {missing_required} "
            f"(mapping {Path(mapping.path).name}); it has {columns[:30]}"
        )
    return [c for c in mapping.all_columns() if c not in columns]


def ingest_file(store: Store, source: str, path: Path, mapping_path: Path | None = None,
                extract_date: date | None = None, table: str | None = None,
                progress: Callable[[int], None] | None = None) -> IngestResult:
    path = Path(path)
    connector = _connector(source)
    mapping = load_mapping(mapping_path or default_mapping_path(source))
    if mapping.source != source:
        raise ConnectorError(f"mapping {mapping.path} is for {mapping.source}, not {source}")
    sha = file_sha256(path) if path.is_file() else ""
    if sha:
        existing = store.rows(f"SELECT extract_id, rows_read, accepted, quarantined FROM {t('extracts')} "
                              "WHERE sha256 = ?", [sha])
        if existing:
            eid, read, acc, quar = existing[0]
            return IngestResult(source, path.name, eid, read, acc, quar, already_ingested=True)

    extract = open_extract(path, mapping.encoding, mapping.delimiter, table)
    missing_optional = _check_columns(extract.columns, mapping, path.name)
    extract_date = extract_date or datetime.now().date()

    records: list[dict] = []
    events: dict[str, list[dict]] = defaultdict(list)
    quarantine: list[dict] = []
    seen: dict[str, int] = {}
    rows_read = quarantined = 0
    for line_no, raw in extract.rows:
        rows_read += 1
        if progress and rows_read % 5000 == 0:
            progress(5000)
        parsed = connector.parse_row(raw, mapping, extract_date)
        if not isinstance(parsed, list):
            rid = parsed.record.source_record_id
            if rid in seen:
                parsed = [Problem(mapping.record_id, f"duplicate record id, first at row {seen[rid]}")]
            else:
                seen[rid] = line_no
        if isinstance(parsed, list):
            quarantined += 1
            raw_json = json.dumps(raw, ensure_ascii=True, default=str)[:20_000]
            quarantine.extend({"line_no": line_no, "field": p.field, "reason": p.reason,
                               "raw": raw_json} for p in parsed)
            continue
        rec = parsed.record.model_dump()
        key = parsed.record.record_key
        rec["record_key"] = key
        rec["line_no"] = line_no
        for name in STD_NAME_FIELDS:
            rec[f"{name}_std"] = normalise_name(rec.get(name))
        records.append(rec)
        for ev in parsed.events:
            events[ev.table].append({"record_key": key, **ev.model_dump()})
    if progress:
        progress(rows_read % 5000)

    with store.transaction():
        eid = store.next_id(t("extracts"), "extract_id")
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        store.execute(
            f"INSERT INTO {t('extracts')} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [eid, source, path.name, sha or f"table:{path}:{table}:{now.isoformat()}",
             Path(mapping.path).name, extract_date, now, rows_read, len(records), quarantined],
        )
        if records:
            store.insert_df(t("records"), pd.DataFrame(records).assign(extract_id=eid))
        for table_name, rows in events.items():
            store.insert_df(t(table_name), pd.DataFrame(rows).assign(extract_id=eid))
        if quarantine:
            store.insert_df(t("quarantine"),
                            pd.DataFrame(quarantine).assign(extract_id=eid, file_name=path.name))
        superseded = _supersede(store, source)

    sample = [(q["line_no"], q["field"], q["reason"]) for q in quarantine[:20]]
    if missing_optional:
        sample.insert(0, (0, ", ".join(missing_optional), "optional columns absent; left empty"))
    return IngestResult(source, path.name, eid, rows_read, len(records), quarantined,
                        superseded=superseded, problems_sample=sample)


def _supersede(store: Store, source: str) -> int | None:
    """The newest extract of a source is current; older ones stay, marked superseded."""
    rows = store.rows(
        f"SELECT extract_id FROM {t('extracts')} WHERE source = ? "
        "ORDER BY extract_date DESC, extract_id DESC", [source])
    if len(rows) < 2:
        return None
    newest = rows[0][0]
    store.execute(
        f"UPDATE {t('extracts')} SET superseded_by = ? WHERE source = ? AND extract_id <> ? ",
        [newest, source, newest])
    return newest


CURRENT_RECORDS_SQL = f"""
SELECT r.* FROM {t('records')} r
JOIN {t('extracts')} e USING (extract_id)
WHERE e.superseded_by IS NULL
"""
