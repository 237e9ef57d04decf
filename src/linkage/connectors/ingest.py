"""Ingest one extract: validate every row, store accepted rows, quarantine the rest.

Rows read = accepted + quarantined + blank, and the whole file commits as one unit
or not at all. A whole extract replaces the source's current one only if it looks
like a whole extract (the safety catch, below); ``amend`` instead adds or corrects
rows within the current extract, keyed by record id. A row repeating an earlier row's
record exactly (one row per episode) is accepted and adds only its new events, so
accepted rows may outnumber the records stored by ``IngestResult.repeated``. The same
file through the same mapping is ingested once; through a corrected mapping it is read again.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from linkage.connectors.dateorder import DateOrder, date_columns
from linkage.connectors.mapping import Mapping, default_mapping_path, load_mapping
from linkage.connectors.readers import MAX_ROW_CHARACTERS, ConnectorError, file_sha256, open_extract
from linkage.connectors.registry import CONNECTORS
from linkage.errors import Problem
from linkage.model import PastAddress, PersonRecord
from linkage.store import Store, registered
from linkage.store.schema import CURRENT_RECORDS_SQL, STD_NAME_FIELDS, t
from linkage.validation import normalise_name

__all__ = ["CURRENT_RECORDS_SQL", "LINK_RECORDS_SQL", "ExtractRefused", "IngestResult", "SafetyLimits", "current_enrolment_sql", "ingest_file", "ingest_files"]


# The current records with their *register*: the list whose identifiers they carry. A source's
# own extract is one register; a second file ingested with --amend under another mapping (an AP
# roll beside the school census, an early-help list beside social care) is another, with its own
# numbering. Two records of one register under two identifiers are two children; a record of the
# AP roll and one of the census are not evidence of that (the twin guard, ``guards.cotwin_pairs_sql``).
# ``on_roll_since``: the entry dates of the record's enrolments that are current (no leaving date)
# and single (not dual-registered, M/S, nor a guest, G, nor a past one, O): a pupil is on one
# school's roll at a time, so two UPNs on roll since one day are two pupils (``secondid``).
# NULL for a record with none (every record but a school's).


def current_enrolment_sql(e: str) -> str:
    """An enrolment row ``e`` (an alias of ``edu_enrolment``) current and single (above)."""
    return f"{e}.leaving_date IS NULL AND coalesce({e}.enrol_status, 'C') NOT IN ('M', 'S', 'G', 'O')"


LINK_RECORDS_SQL = f"""
SELECT r.*, CASE WHEN e.amends IS NULL
                   OR e.mapping = (SELECT p.mapping FROM {t('extracts')} p WHERE p.extract_id = e.amends)
                 THEN r.source ELSE r.source || ':' || e.mapping END AS register, o.on_roll_since
FROM {t('records')} r
JOIN {t('extracts')} e USING (extract_id)
LEFT JOIN (SELECT record_key, extract_id, list(DISTINCT entry_date ORDER BY entry_date) AS on_roll_since
           FROM {t('edu_enrolment')} n
           WHERE n.entry_date IS NOT NULL AND {current_enrolment_sql('n')}
           GROUP BY record_key, extract_id) o USING (record_key, extract_id)
WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL
"""


_SURROGATES = re.compile("[\ud800-\udfff]")


class ExtractRefused(ConnectorError):
    """The safety catch: the file does not look like a whole extract; nothing was stored."""


@dataclass(frozen=True)
class SafetyLimits:
    max_quarantined: float = 0.5      # share of (non-blank) rows that may be quarantined
    min_relative_size: float = 0.5    # share of the current extract's accepted rows required

    @classmethod
    def from_settings(cls) -> SafetyLimits:
        from linkage.config import get_settings

        s = get_settings()
        return cls(s.ingest_max_quarantined, s.ingest_min_relative_size)


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
    blank: int = 0
    warned: int = 0                    # accepted rows with at least one field set aside
    amends: int | None = None          # the whole extract this amendment belongs to
    replaced: int = 0                  # amendment: current records it replaced
    resolved: int = 0                  # amendment: earlier quarantine rows it corrected
    existing_file: str | None = None   # already ingested: the name it was ingested under
    warnings_sample: list[tuple[int, str, str]] = field(default_factory=list)
    repeated: int = 0                  # accepted rows repeating a record: only their events (and blanks) added
    past_addresses: int = 0            # of those, addresses stored as a record's address history
    read_again: tuple[int, date] | None = None   # this file stored before under another mapping: (extract, date)
    left: int = 0                      # record ids current before that this extract does not hold
    amendments_kept: int = 0           # read again: the amendments of the extract it replaced, applied to it
    current: bool = True               # whether this extract (or the one it amends) is the source's current one


def _connector(source: str):
    try:
        return CONNECTORS[source]()
    except KeyError:
        raise ConnectorError(f"unknown source {source!r}; choose from {sorted(CONNECTORS)}") from None


_INVISIBLE = re.compile("[\ufeff\u200b-\u200d\u2060\u00ad]")


def _header_key(name: str) -> str:
    """A column name as compared with the mapping's: case, spacing, non-breaking and invisible
    characters (a byte-order mark a second tool added, a zero-width space) do not count."""
    return " ".join(_INVISIBLE.sub("", name).split()).casefold()


def _header_again(raw: dict) -> bool:
    """Whether a row is the file's header once more (two exports joined into one file): every
    cell its column's name (``Notes (2)``, a name given twice, holds ``Notes``)."""
    cells = [(re.sub(r" \(\d+\)$", "", column), value) for column, value in raw.items() if isinstance(value, str)]
    return len(cells) >= 2 and all(_header_key(value) == _header_key(column) for column, value in cells)


HEADER_AGAIN = "the header row again, as a row: were two exports joined into one file? (the row is left out)"


def align_header(columns: list[str], wanted: list[str], file_name: str) -> None:
    """Rename, in place, each file column that is one the mapping reads written another way
    (``SURNAME``, ``Date  of Birth``, ``\ufeffPerson ID``) to the mapping's spelling."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(columns):
        by_key[_header_key(c)].append(i)
    for name in wanted:
        if name in columns:
            continue
        hits = by_key.get(_header_key(name), [])
        if len(hits) > 1:
            raise ConnectorError(f"{file_name} has {len(hits)} columns that could be the mapping's {name!r} "
                                 f"({', '.join(repr(columns[i]) for i in hits)}): rename one in the file")
        if hits:
            columns[hits[0]] = name


_UNDECODED = re.compile("[\udc80-\udcff]")     # a byte the file's encoding could not read, as Python keeps it


def _check_columns(columns: list[str], mapping: Mapping, file_name: str, wrong_encoding: str | None = None) -> list[str]:
    """Missing required columns stop the file; missing optional ones are reported.

    A header the encoding could not read is said to be so: its names offered as typos in the
    mapping, with bytes shown as ``\\udce9``, sent the user to the wrong file."""
    missing_required = [c for c in mapping.required_columns() if c not in columns]
    if missing_required and any(_UNDECODED.search(c) for c in columns):
        raise ConnectorError((wrong_encoding or (
            f"{file_name}'s header row holds bytes that are not {mapping.encoding}: save the file as "
            "CSV UTF-8, or set `encoding:` in the mapping to the one it was saved in")) + "; nothing was stored")
    if missing_required and len(columns) == 1:
        other = next((d for d in (";", "\t", "|", ",") if d != mapping.delimiter and d in columns[0]), None)
        if other:
            raise ConnectorError(
                f"{file_name} has one column only: it looks delimited by {other!r}, not {mapping.delimiter!r}; "
                f"set `delimiter: {other!r}` in the mapping (a copy of {Path(mapping.path).name})")
    if missing_required:
        near = _near(missing_required, columns)
        # A typo when every missing column has a near twin in the file; otherwise more likely the wrong mapping.
        hint = f" (a typo in the mapping? closest: {', '.join(near)})" if len(near) == len(missing_required) else ""
        if len(columns) == 1 and not hint:
            hint = " (is the header not the file's first line? delete any title lines above it)"
        raise ConnectorError(
            f"{file_name} lacks required columns {missing_required}{hint} "
            f"(mapping {Path(mapping.path).name}, delimiter {mapping.delimiter!r}); it has {columns[:30]}"
        )
    return [c for c in mapping.all_columns() if c not in columns]


def _near(wanted: list[str], columns: list[str]) -> list[str]:
    """``'Adress' -> 'ADDRESS'`` for each wanted column with a close one in the file."""
    folded = {c.casefold(): c for c in columns}
    return [f"{m!r} -> {folded[hit[0]]!r}" for m in wanted
            if (hit := difflib.get_close_matches(m.casefold(), list(folded), 1, 0.75))]


def read_sha256(path: Path, table: str | None, scanned=None) -> str:
    """What was read, by SHA-256: the file, or one table of a database file (a second school's
    table in the same MIS file is other rows, not the same extract again); "" for no file.
    ``scanned``: the file's one read (``filescan.scan``), which hashed it."""
    if not path.is_file():
        return ""
    sha = file_sha256(path, scanned)
    # DuckDB matches table names whatever their case: School_A is school_a.
    return hashlib.sha256(f"{sha}\x1ftable\x1f{table.casefold()}".encode()).hexdigest() if table else sha


def ingest_key(file_sha: str, mapping_path: str | Path, amends: int | None = None) -> str:
    """What makes two ingests the same: the same file read through the same mapping (and, for an
    amendment, amending the same extract). The same file under a corrected mapping is read again
    (a wrong date order, a swapped column); an amendment made to last month's extract, given
    again with --amend, corrects this month's (the corrections are not in it)."""
    mapping_sha = hashlib.sha256(Path(mapping_path).read_bytes()).hexdigest()
    key = hashlib.sha256(f"{file_sha}:{mapping_sha}".encode()).hexdigest()
    return key if amends is None else hashlib.sha256(f"{key}:amends:{amends}".encode()).hexdigest()


def _already(store: Store, sha: str, key: str, source: str, path: Path, mapping_name: str,
             carried: tuple[str, ...] = (), current: int | None = None) -> IngestResult | None:
    """The extract this file already is (same file, same mapping), or None; the same file stored
    for another source is refused. A row from before the mapping counted (no ``file_sha256``)
    is the same ingest when its mapping file had the same name. ``carried``: an amendment's keys
    for earlier readings of the current extract's file; one that now amends ``current`` (carried
    there when the file was read again) is this amendment already applied. A reading is the same
    ingest only while it is its file's latest (as a whole extract, or as an amendment of that
    extract): once another mapping read the file again, the first mapping put back reads it
    again too (the reading it replaced is not what is current)."""
    also = f" OR (sha256 IN ({', '.join('?' * len(carried))}) AND amends = ?)" if carried else ""
    rows = store.rows(f"SELECT extract_id, source, file_name, rows_read, accepted, quarantined, "
                      f"coalesce(blank_rows, 0), amends, sha256 = ? OR (file_sha256 IS NULL AND mapping = ?){also} "
                      f"FROM {t('extracts')} WHERE sha256 = ? OR file_sha256 = ? OR sha256 = ? "
                      "ORDER BY extract_id DESC",
                      [key, mapping_name, *((*carried, current) if carried else ()), sha, sha, key])
    for eid, stored_source, name, read, acc, quar, blank, amends, same in rows:
        if stored_source != source:
            raise ConnectorError(f"{path.name} was already ingested as {stored_source} (extract {eid}, "
                                 f"file {name}), not {source}; nothing changed")
    latest: dict[int | None, int] = {}        # the file's latest reading, whole (None) or amending each extract
    for row in rows:
        latest.setdefault(row[7], row[0])
    for eid, stored_source, name, read, acc, quar, blank, amends, same in rows:
        if same and eid == latest[amends]:
            return IngestResult(stored_source, path.name, eid, read, acc, quar, already_ingested=True,
                                blank=blank, amends=amends, existing_file=name)
    return None


def _stored_before(store: Store, source: str, sha: str) -> tuple[int, date] | None:
    """(extract id, extract date) of this file's latest whole extract for ``source`` under any
    mapping, or None: read again, it keeps the date it was stored with, so a corrected mapping
    puts last month's file right without making it current over this month's."""
    rows = store.rows(f"SELECT extract_id, extract_date FROM {t('extracts')} WHERE source = ? AND amends IS NULL "
                      "AND (file_sha256 = ? OR sha256 = ?) ORDER BY extract_id DESC LIMIT 1", [source, sha, sha])
    return (rows[0][0], rows[0][1]) if rows else None


def _readings(store: Store, eid: int) -> list[int]:
    """The earlier whole extracts read from the same file as extract ``eid`` (under other
    mappings): a re-reading carries their amendments to ``eid``."""
    return [r[0] for r in store.rows(
        f"SELECT e.extract_id FROM {t('extracts')} e JOIN {t('extracts')} c ON c.extract_id = ? "
        "WHERE e.source = c.source AND e.amends IS NULL AND e.extract_id < c.extract_id "
        "AND coalesce(e.file_sha256, e.sha256) = coalesce(c.file_sha256, c.sha256)", [eid])]


def _current(store: Store, source: str) -> tuple[int, str, date, int] | None:
    """(extract id, file, date, current accepted records) of the source's current whole extract."""
    rows = store.rows(f"SELECT extract_id, file_name, extract_date FROM {t('extracts')} "
                      "WHERE source = ? AND superseded_by IS NULL AND amends IS NULL "
                      "ORDER BY extract_date DESC, extract_id DESC LIMIT 1", [source])
    if not rows:
        return None
    n = store.scalar(f"SELECT count(*) FROM ({CURRENT_RECORDS_SQL}) WHERE source = ?", [source])
    return (*rows[0], int(n))


def _is_file_of(store: Store, current: tuple | None, sha: str) -> bool:
    """Whether the current extract was read from this very file (under another mapping)."""
    return bool(sha and current and store.scalar(
        f"SELECT count(*) FROM {t('extracts')} WHERE extract_id = ? AND (file_sha256 = ? OR sha256 = ?)",
        [current[0], sha, sha]))


def _commonest(quarantine: list[dict]) -> str:
    """The column most rows were rejected for, with its first line and reason: what to look at first."""
    errors = [q for q in quarantine if q["severity"] == "error"]
    if not errors:
        return ""
    by_field: dict[str, list[dict]] = defaultdict(list)
    for q in errors:
        by_field[q["field"]].append(q)
    field_, hits = max(by_field.items(), key=lambda kv: len({q["line_no"] for q in kv[1]}))
    return (f"; most in column {field_} ({len({q['line_no'] for q in hits})} rows), first on line "
            f"{hits[0]['line_no']}: {hits[0]['reason']}")


def _safety_catch(source: str, file_name: str, extract_date: date, read: int, blank: int, accepted: int,
                  quarantined: int, current: tuple[int, str, date, int] | None, limits: SafetyLimits,
                  why: str = "", rereads: bool = False) -> None:
    """Refuse a whole extract that does not look like one; one line naming the numbers (and ``why``).
    ``rereads``: the file is the current extract's own, read again under another mapping, which
    replaces it whatever its date."""
    rows = read - blank
    override = "; if it really is the whole extract, run again with --force"
    if rows == 0:
        raise ExtractRefused(f"{file_name} has no data rows ({blank} blank rows): refusing an empty {source} "
                             f"extract, which would replace the current one; nothing was stored{override}")
    if quarantined > limits.max_quarantined * rows:
        raise ExtractRefused(
            f"{file_name}: {quarantined} of {rows} rows ({quarantined / rows:.0%}) would be quarantined, more "
            f"than the {limits.max_quarantined:.0%} allowed (LINKAGE_INGEST_MAX_QUARANTINED){why}; nothing "
            f"was stored; check the mapping and encoding{override}")
    if current is None or extract_date < current[2]:
        return                  # the first extract, or an older one that will not become current
    _, cur_file, cur_date, cur_accepted = current
    if accepted < limits.min_relative_size * cur_accepted:
        raise ExtractRefused(
            f"{file_name}: {accepted} accepted rows against {cur_accepted} in the current {source} extract "
            f"({cur_file}, {cur_date}); a whole extract needs at least {limits.min_relative_size:.0%} "
            f"(LINKAGE_INGEST_MIN_RELATIVE_SIZE); nothing was stored; run again with --amend if it adds or "
            f"corrects rows, or --force if it really is the whole extract")
    if extract_date == cur_date and not rereads:
        raise ExtractRefused(
            f"{file_name} has the same extract date ({cur_date}) as the current {source} extract "
            f"({cur_file}); nothing was stored; run again with --amend to add its rows (e.g. a second "
            "school's file), or --force to replace the current extract with it")


# A field the current extract holds in at least this share of its records, and the new whole extract
# in none, was lost on the way (a column left out of the export or renamed, a spreadsheet that
# mangled it), not emptied by the children: the new extract is refused unless forced.
DROPPED_FIELD_SHARE = 0.1
_OPTIONAL_FIELDS = tuple(f for f in PersonRecord.model_fields
                         if f not in ("source", "source_record_id", "extract_date", "forename", "surname",
                                      "date_of_birth"))


def _held(field_: str, records: list[dict], fast_records) -> bool:
    """Whether any accepted record holds ``field_`` (a value set aside is not held)."""
    if fast_records is not None and field_ in fast_records.column_names and \
            fast_records.column(field_).null_count < fast_records.num_rows:
        return True
    return any(r.get(field_) is not None for r in records)


def _dropped_fields(store: Store, current: tuple[int, str, date, int], file_name: str, source: str,
                    mapping: Mapping, columns: list[str], records: list[dict], fast_records) -> None:
    """Refuse a whole extract that holds none of a field the current extract mostly holds (its
    ``DROPPED_FIELD_SHARE``): made current, every NHS number (say) of the source would go from
    linking at once, behind a warning row no one reads. One line naming the field and its column."""
    eid, cur_file, cur_date, _ = current
    counts = store.rows(f"SELECT count(*), {', '.join(f'count({f})' for f in _OPTIONAL_FIELDS)} "
                        f"FROM {t('records')} WHERE extract_id = ?", [eid])[0]
    total, before = counts[0], dict(zip(_OPTIONAL_FIELDS, counts[1:]))
    lost = [f for f in _OPTIONAL_FIELDS if total and before[f] >= DROPPED_FIELD_SHARE * total
            and not _held(f, records, fast_records)]
    if not lost:
        return

    def where(f: str) -> str:
        if f not in mapping.fields:
            return "not in the mapping"
        column = mapping.source_of(mapping.fields[f])
        return f"column {column} {'blank or refused in every row' if column in columns else 'absent from the file'}"

    said = "; ".join(f"{f} ({where(f)}; {before[f]} of the {total} records of {cur_file} hold one)" for f in lost)
    raise ExtractRefused(
        f"{file_name} holds no {', '.join(lost)} for any child, unlike the current {source} extract "
        f"({cur_file}, {cur_date}): {said}; made current, it would take them all out of linking; nothing was "
        "stored; check the export and the mapping, or run again with --force if the field really is gone")


class _Rows:
    """Rows taken one by one through ``parse_row``: accepted records, events and quarantine."""

    def __init__(self, connector, mapping: Mapping, extract_date: date, order: DateOrder | None = None) -> None:
        self.connector, self.mapping, self.extract_date = connector, mapping, extract_date
        self.order = order
        self.records: list[dict] = []
        self.events: dict[str, list[dict]] = defaultdict(list)
        self.quarantine: list[dict] = []
        # Each record id's first row, the hash of its record and of each of its events: a row repeating
        # the record exactly adds its new events (hashes, not the models: a million rows may pass here).
        self.seen: dict[str, tuple[int, int, set[int]]] = {}
        # Each record id's stored record (its index in ``records``) and its addresses, for a file with
        # one row per address: the record keeps the newest, the others become its address history.
        self.first: dict[str, int] = {}
        self.places: dict[str, set[tuple]] = {}
        self.rows_read = self.quarantined = self.blank = self.warned = self.repeated = 0

    def read(self, rows, progress: Callable[[int, int | None], None] | None = None,
             total: int | None = None) -> None:
        mapping = self.mapping
        for line_no, raw in rows:
            self.rows_read += 1
            if progress and self.rows_read % 5000 == 0:
                progress(self.rows_read, total)
            if raw is None:
                self.blank += 1
                continue
            if self.order is not None:
                self.order.see_row(line_no, raw)
            if _header_again(raw):
                self._quarantine(line_no, raw, [Problem("row", HEADER_AGAIN)], "error")
                self.quarantined += 1
                continue
            parsed = self.connector.parse_row(raw, mapping, self.extract_date)
            if not isinstance(parsed, list):
                rid = parsed.record.source_record_id
                if rid in self.seen:
                    first, digest, events = self.seen[rid]
                    if hash(parsed.record) == digest:
                        self._repeat(line_no, raw, parsed, events)
                        continue
                    clash = _clash(self.records[self.first[rid]], parsed.record)
                    if not clash:
                        self._moved(line_no, raw, parsed, events)
                        continue
                    columns = ", ".join(dict.fromkeys(mapping.source_of(mapping.fields.get(f, f)) for f in clash))
                    parsed = [Problem(mapping.record_id, f"duplicate record id, first at row {first}, "
                                                         f"with other personal details (it differs in {columns})")]
                else:
                    self.seen[rid] = (line_no, hash(parsed.record), {hash(ev) for ev in parsed.events})
                    self.first[rid] = len(self.records)
            problems, severity = (parsed, "error") if isinstance(parsed, list) else (parsed.warnings, "warning")
            if problems:
                self._quarantine(line_no, raw, problems, severity)
            if isinstance(parsed, list):
                self.quarantined += 1
                continue
            self.warned += bool(parsed.warnings)
            rec = parsed.record.model_dump()
            key = parsed.record.record_key
            rec["record_key"] = key
            rec["line_no"] = line_no
            for name in STD_NAME_FIELDS:
                rec[f"{name}_std"] = normalise_name(rec.get(name))
            self.records.append(rec)
            for ev in parsed.events:
                self.events[ev.table].append({"record_key": key, **ev.model_dump()})

    def _quarantine(self, line_no: int, raw: dict, problems: list[Problem], severity: str) -> None:
        raw_json = json.dumps(raw, ensure_ascii=True, default=str)[:20_000]
        # Undecodable bytes in the id become U+FFFD: the reason names the cell, the store needs text.
        rid = raw.get(self.mapping.record_id) if self.mapping.record_id in raw else \
            self.mapping.derive(raw).get(self.mapping.record_id)          # a record id a spec makes
        rid = _SURROGATES.sub("\ufffd", (rid or "").strip()) or None
        self.quarantine.extend({"line_no": line_no, "field": p.field, "reason": p.reason, "raw": raw_json,
                                "severity": severity, "source_record_id": rid} for p in problems)

    def _moved(self, line_no: int, raw: dict, parsed, events: set[int]) -> None:
        """A row repeating a record with details the first row left blank, or another address (one row
        per address): accepted; the blanks are filled; the newer
        address (by its move-in date; without dates, the first row's, unless that has none) stays the
        record's, the other becomes an ``address_history`` event of the record."""
        rid = parsed.record.source_record_id
        current = self.records[self.first[rid]]         # the stored record, as a dict: updated in place
        new = dict(parsed.record)
        fill = {f: v for f, v in new.items() if v is not None and current.get(f) is None and f not in _PLACE}
        if fill:                        # a detail one row leaves blank and another gives (a UPN on one contact)
            current.update(fill)
            current.update({f"{n}_std": normalise_name(fill[n]) for n in STD_NAME_FIELDS if n in fill})
        seen = self.places.setdefault(rid, {_place(current)})
        if _place(new) not in seen:
            seen.add(_place(new))
            held, moved_in = _place(current), new["address_from"]
            if not any(held) or (moved_in and current["address_from"] and moved_in > current["address_from"]):
                current.update(zip(_PLACE, _place(new)))      # the row's address is newer: it becomes the record's
            else:
                held = _place(new)
            if any(held):
                self.events[PastAddress.table].append({"record_key": parsed.record.record_key,
                                                       **dict(zip(_PLACE, held))})
        self._repeat(line_no, raw, parsed, events)

    def _repeat(self, line_no: int, raw: dict, parsed, events: set[int]) -> None:
        """A row repeating a record's personal details exactly (one row per episode, or a row exported
        twice): accepted, adding the events the record does not have yet; its set-aside fields are said."""
        self.repeated += 1
        self.warned += bool(parsed.warnings)
        if parsed.warnings:
            self._quarantine(line_no, raw, parsed.warnings, "warning")
        key = parsed.record.record_key
        for ev in parsed.events:
            if hash(ev) not in events:
                events.add(hash(ev))
                self.events[ev.table].append({"record_key": key, **ev.model_dump()})


_PLACE = ("postcode", "address", "address_from")


def _place(record: dict) -> tuple:
    return tuple(record.get(f) for f in _PLACE)


def _clash(first: dict, row: PersonRecord) -> list[str]:
    """The personal details (not the address) two rows of one record id give differently, both given:
    none, and they are one child's rows (one per episode, contact or address)."""
    return [f for f, v in row if f not in _PLACE and v is not None and first.get(f) not in (None, v)]


def ingest_file(store: Store, source: str, path: Path, mapping_path: Path | None = None,
                extract_date: date | None = None, table: str | None = None,
                progress: Callable[[int, int | None], None] | None = None, *, amend: bool = False,
                force: bool = False, limits: SafetyLimits | None = None, columnar: bool = True) -> IngestResult:
    """Validate and store one extract; see the module docstring for ``amend`` and the safety catch.

    ``progress(rows done, rows expected or None)`` is called every few thousand rows.
    ``columnar``: a CSV's clean rows are validated column by column (``columnar.py``); False
    takes every row through ``parse_row``, as the equality test compares.
    """
    return _read(store, source, path, mapping_path, extract_date, table, progress, amend=amend, force=force,
                 limits=limits, columnar=columnar)(store)


def ingest_files(store: Store, files: list[tuple[str, Path]], extract_date: date | None = None,
                 limits: SafetyLimits | None = None) -> list[IngestResult]:
    """Whole extracts of different sources (``(source, path)``), each validated and stored as
    ``ingest_file`` does, in that order; each is read while those before it are stored, on a
    cursor of their own (DuckDB stores without the GIL that reading holds; reading no longer waits
    for the store before the next file: storing is now the longer half). Each commits as one
    unit; one that fails stops those after it, and its error is raised once those before are stored."""
    sources = [source for source, _ in files]
    if len(set(sources)) != len(sources):
        raise ConnectorError("one extract per source at a time: a second would be read before the first is stored")
    from linkage.connectors.filescan import read_ahead      # numpy, as _read's scan

    failed = threading.Event()
    read_ahead(path for _, path in files)

    def in_turn(save: Callable[[Store], IngestResult]) -> IngestResult | None:
        if failed.is_set():         # one before it failed: read, never to be stored
            save.discard()
            return None
        try:
            return _beside(store, save)
        except BaseException:
            failed.set()
            raise

    with _one_checkpoint(store), ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-store") as storing:
        queued = []
        try:
            for source, path in files:
                if failed.is_set():
                    break
                queued.append(storing.submit(in_turn, _read(store, source, path, extract_date=extract_date,
                                                            limits=limits)))
        finally:
            wait(queued)            # every file read is stored (or let go) before any error is raised
        return [q.result() for q in queued]       # the first that failed raises, in file order


@contextmanager
def _one_checkpoint(store: Store):
    """The stores' checkpoints held off until every file is stored, then made once. DuckDB
    checkpoints at a commit whose log passes ``checkpoint_threshold`` (16 MiB: every extract's),
    and three checkpoints, one a file, cost about half as much again as one of the same rows (at a
    million records about 9 CPU s against 4 to 6), while the next file waits for the core. Each
    commit is durable in the log as before; a failure leaves the checkpoint to the store's close."""
    before = store.scalar("SELECT current_setting('checkpoint_threshold')")
    store.execute("SET checkpoint_threshold = '1TB'")
    try:
        yield
    finally:
        store.execute(f"SET checkpoint_threshold = '{before}'")
    store.checkpoint()


def _csv_file(path: Path, table: str | None) -> bool:
    """Whether ``open_extract`` reads ``path`` as a CSV file (not Parquet, not a database's table)."""
    return table is None and path.suffix.lower() not in (".parquet", ".duckdb", ".db") and path.is_file()


def _stored(result: IngestResult) -> Callable[[Store], IngestResult]:
    """What ``_read`` returns for a file already ingested: nothing more to store."""
    def save(_store: Store) -> IngestResult:
        return result
    save.discard = lambda: None
    return save


def _beside(store: Store, save: Callable[[Store], IngestResult]) -> IngestResult:
    with store.beside() as other:
        return save(other)


def _read(store: Store, source: str, path: Path, mapping_path: Path | None = None,
          extract_date: date | None = None, table: str | None = None,
          progress: Callable[[int, int | None], None] | None = None, *, amend: bool = False,
          force: bool = False, limits: SafetyLimits | None = None,
          columnar: bool = True) -> Callable[[Store], IngestResult]:
    """``ingest_file`` up to the store: the extract read, validated and past the safety catch;
    returns what stores it (in one transaction, on the store it is given) and says the result."""
    # here, not at the top: pandas and pyarrow would cost every CLI command that reads quarantine or
    # reference data (through linkage.connectors) a second of imports
    import pandas as pd

    from linkage.connectors.columnar import read_columnar
    from linkage.connectors.filescan import scan

    path = Path(path)
    today = datetime.now().date()
    if extract_date is not None and extract_date > today + timedelta(days=1):
        raise ConnectorError(f"the extract date {extract_date} is in the future (today is {today}): check "
                             "--extract-date; a future extract would stay current over every real one after it")
    connector = _connector(source)
    mapping = load_mapping(mapping_path or default_mapping_path(source))
    if mapping.source != source:
        raise ConnectorError(f"mapping {mapping.path} is for {mapping.source}, not {source}")
    # A CSV is read once (``filescan``): its hash now, its encoding, line count and bytes for the parser below.
    scanned = scan(path, MAX_ROW_CHARACTERS) if _csv_file(path, table) else None
    sha = read_sha256(path, table, scanned)
    current = _current(store, source)
    key = ingest_key(sha, mapping.path, current[0] if amend and current else None) if sha else ""
    carried = (tuple(ingest_key(sha, mapping.path, x) for x in _readings(store, current[0]))
               if sha and amend and current else ())
    if sha and (done := _already(store, sha, key, source, path, Path(mapping.path).name, carried,
                                 current[0] if current else None)):
        return _stored(done)
    before = _stored_before(store, source, sha) if sha and not amend else None
    if extract_date is None and before is not None:
        extract_date = before[1]
    if amend and current is None:
        raise ConnectorError(f"there is no current {source} extract to amend: ingest a whole extract first")

    extract = open_extract(path, mapping.encoding, mapping.delimiter, table, set(mapping.all_columns()), scanned)
    del scanned         # the extract holds it until the parser takes its bytes
    try:
        align_header(extract.columns, mapping.all_columns(), path.name)
        missing_optional = _check_columns(extract.columns, mapping, path.name, extract.wrong_encoding)
        extract_date = extract_date or (current[2] if amend else datetime.now().date())

        order = DateOrder(date_columns(mapping))
        rows = _Rows(connector, mapping, extract_date, order)
        fast = None
        if progress:
            progress(0, extract.total)
        try:
            if extract.raw is not None and columnar:
                fast = read_columnar(extract, connector, mapping, extract_date, progress, order)
                rows.read(fast.slow)
                rows.rows_read = fast.rows_read
            else:
                rows.read(extract.rows, progress, extract.total)
        except (UnicodeError, csv.Error) as exc:
            done = getattr(exc, "rows_read", rows.rows_read)
            raise ConnectorError(f"cannot read {path.name} at row {done + 1}: {exc}") from None
        finally:
            extract.scan = None     # its bytes, if no parser took them, are not kept while the rows are stored
        if progress:
            progress(rows.rows_read, rows.rows_read)
        if not force and (why := extract.wrong_encoding or extract.cut_short
                          or order.problem(path.name, mapping.source_of)):
            # An amendment cannot be forced (it never replaces the extract): the fix is the file or the mapping.
            raise ExtractRefused(f"{why}; nothing was stored" + ("" if amend else " (--force takes the file as it is, "
                                                                 "quarantining the cells or row it cannot read)"))
        records, events, quarantine = rows.records, rows.events, rows.quarantine
        rows_read, quarantined, blank, warned = rows.rows_read, rows.quarantined, rows.blank, rows.warned
        fast_records = fast.records if fast is not None and fast.records is not None else None
        accepted = len(records) + rows.repeated + (fast_records.num_rows if fast_records is not None else 0)

        rereads = not amend and _is_file_of(store, current, sha)
        if not (amend or force):
            _safety_catch(source, path.name, extract_date, rows_read, blank, accepted, quarantined,
                          current, limits or SafetyLimits.from_settings(), _commonest(quarantine), rereads=rereads)
            if current is not None and extract_date >= current[2]:
                _dropped_fields(store, current, path.name, source, mapping, extract.columns, records, fast_records)

        columns = extract.columns
    except BaseException:
        extract.close()
        raise

    def save(store: Store) -> IngestResult:
        try:
            replaced = resolved = 0
            with store.transaction():
                eid = store.next_id(t("extracts"), "extract_id")
                now = datetime.now(timezone.utc).replace(tzinfo=None)
                if key:     # an older reading under this mapping, replaced since, gives up its key
                    store.execute(f"UPDATE {t('extracts')} SET sha256 = ? WHERE sha256 = ?",
                                  [f"{key}:until:{eid}", key])
                store.execute(
                    f"INSERT INTO {t('extracts')} (extract_id, source, file_name, sha256, mapping, extract_date, "
                    "ingested_at, rows_read, accepted, quarantined, superseded_by, amends, blank_rows, warned, forced, "
                    "file_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                    [eid, source, path.name, key or f"table:{path}:{table}:{now.isoformat()}",
                     Path(mapping.path).name, extract_date, now, rows_read, accepted, quarantined,
                     current[0] if amend else None, blank, warned, force, sha or None],
                )
                if amend and accepted:
                    ids = [r["source_record_id"] for r in records]
                    if fast_records is not None:
                        ids += fast_records.column("source_record_id").to_pylist()
                    replaced, resolved = _amend(store, source, eid, ids, now)
                if amend and quarantine:
                    resolved += _retried(store, source, eid, now, {
                        q["source_record_id"] for q in quarantine if q["severity"] == "error" and q["source_record_id"]})
                if records:
                    store.insert_df(t("records"), pd.DataFrame(records).assign(extract_id=eid))
                if fast_records is not None:
                    store.insert_arrow(t("records"), fast_records, extract_id=eid)
                for table_name, table_rows in events.items():
                    store.insert_df(t(table_name), pd.DataFrame(table_rows).assign(extract_id=eid))
                for table_name, tables in (fast.events if fast is not None else {}).items():
                    for part in tables:
                        store.insert_arrow(t(table_name), part, extract_id=eid)
                if quarantine:
                    store.insert_df(t("quarantine"),
                                    pd.DataFrame(quarantine).assign(extract_id=eid, file_name=path.name))
                superseded = None if amend else _supersede(store, source)
                carried = _carry_amendments(store, current[0], eid, now) if rereads and superseded == eid else 0
                left = _left(store, source, current[0]) if current and superseded == eid else 0

            errors = [(q["line_no"], q["field"], q["reason"]) for q in quarantine if q["severity"] == "error"]
            warnings = [(q["line_no"], q["field"], q["reason"]) for q in quarantine if q["severity"] == "warning"]
            sample = errors[:20]
            if missing_optional:
                read = set(mapping.all_columns())
                near = _near(missing_optional, [c for c in columns if c not in read])
                sample.insert(0, (0, ", ".join(missing_optional), "optional columns absent; left empty"
                                  + (f" (a typo in the mapping? closest: {', '.join(near)})" if near else "")))
            return IngestResult(source, path.name, eid, rows_read, accepted, quarantined,
                                superseded=superseded, problems_sample=sample, blank=blank, warned=warned,
                                amends=current[0] if amend else None, replaced=replaced, resolved=resolved,
                                warnings_sample=warnings[:20], repeated=rows.repeated,
                                past_addresses=len(events.get(PastAddress.table, [])), read_again=before,
                                amendments_kept=carried, left=left,
                                current=amend or superseded in (None, eid))
        finally:
            extract.close()
    save.discard = extract.close
    return save


def _amend(store: Store, source: str, eid: int, ids: list[str], now: datetime) -> tuple[int, int]:
    """Replace the current records with these ids; resolve their open quarantine rows."""
    import pandas as pd

    name = f"_amend_{eid}"

    def mark(table: str, assign: str, still_open: str, values: list) -> int:
        return len(store.rows(
            f"UPDATE {t(table)} SET {assign} WHERE {still_open} IS NULL AND extract_id IN "
            f"(SELECT extract_id FROM {t('extracts')} WHERE source = ? AND superseded_by IS NULL AND extract_id <> ?) "
            f"AND source_record_id IN (SELECT source_record_id FROM {name}) RETURNING 1", [*values, source, eid]))

    with registered(store.connection, **{name: pd.DataFrame({"source_record_id": ids})}):
        replaced = mark("records", "replaced_by = ?", "replaced_by", [eid])
        resolved = mark("quarantine", "resolved_at = ?, resolved_by_extract = ?", "resolved_at", [now, eid])
    return replaced, resolved


def _retried(store: Store, source: str, eid: int, now: datetime, ids: set[str]) -> int:
    """An amendment's row refused again for a record id whose earlier row was refused: the new row
    is the agency's latest word on that record, so the earlier refusals are resolved by it (a
    correction file saved again, or corrected twice and still wrong, listed each row once per
    attempt and sent the school every attempt back). Warnings stay: they describe a record still
    stored."""
    if not ids:
        return 0
    return len(store.rows(
        f"UPDATE {t('quarantine')} SET resolved_at = ?, resolved_by_extract = ? WHERE resolved_at IS NULL "
        f"AND severity = 'error' AND extract_id <> ? AND extract_id IN (SELECT extract_id FROM {t('extracts')} "
        "WHERE source = ? AND superseded_by IS NULL) AND source_record_id IN (SELECT unnest(?)) RETURNING 1",
        [now, eid, eid, source, sorted(ids)]))


def _left(store: Store, source: str, old: int) -> int:
    """Record ids the replaced extract ``old`` held that no current record has now: the children
    the new extract leaves out (leavers, or a file that stopped at a line's end part-way)."""
    return int(store.scalar(
        f"SELECT count(DISTINCT r.source_record_id) FROM {t('records')} r WHERE r.replaced_by IS NULL "
        f"AND r.extract_id IN (SELECT extract_id FROM {t('extracts')} WHERE extract_id = ? OR amends = ?) "
        f"AND r.source_record_id NOT IN (SELECT source_record_id FROM ({CURRENT_RECORDS_SQL}) WHERE source = ?)",
        [old, old, source]))


def _carry_amendments(store: Store, old: int, eid: int, now: datetime) -> int:
    """The file of extract ``old`` read again (as ``eid``, under another mapping): the amendments
    made to ``old`` corrected rows of this very file, so they amend ``eid`` now, in their order
    (a new month's whole extract leaves them behind; a re-reading must not drop them silently)."""
    amendments = [r[0] for r in store.rows(f"SELECT extract_id FROM {t('extracts')} WHERE amends = ? "
                                           "ORDER BY extract_id", [old])]
    for a in amendments:
        ids = f"(SELECT source_record_id FROM {t('records')} WHERE extract_id = ?)"
        store.execute(f"UPDATE {t('records')} SET replaced_by = ? WHERE extract_id = ? AND replaced_by IS NULL "
                      f"AND source_record_id IN {ids}", [a, eid, a])
        store.execute(f"UPDATE {t('quarantine')} SET resolved_at = ?, resolved_by_extract = ? WHERE extract_id = ? "
                      f"AND resolved_at IS NULL AND source_record_id IN {ids}", [now, a, eid, a])
    if amendments:
        store.execute(f"UPDATE {t('extracts')} SET amends = ?, superseded_by = NULL WHERE amends = ?", [eid, old])
    return len(amendments)


def _supersede(store: Store, source: str) -> int | None:
    """The newest whole extract of a source is current, with its amendments; older ones stay, superseded."""
    rows = store.rows(
        f"SELECT extract_id FROM {t('extracts')} WHERE source = ? AND amends IS NULL "
        "ORDER BY extract_date DESC, extract_id DESC", [source])
    if len(rows) < 2:
        return None
    newest = rows[0][0]
    store.execute(
        f"UPDATE {t('extracts')} SET superseded_by = ? WHERE source = ? AND extract_id <> ? "
        "AND coalesce(amends, -1) <> ?", [newest, source, newest, newest])
    return newest
