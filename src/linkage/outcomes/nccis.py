"""Post-16 activity from an authority's NCCIS (CCIS) return, so destinations can be measured.

Optional: an authority that loads none gets no destination measures, never a guess. A row
needs the young person's id, a valid UPN (how the activity reaches the linked child), a
three-digit activity code and the date the activity started; any other bad cell is left
out of that row and counted. Each load replaces the last (NCCIS is a snapshot of current
activity and its history), in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from linkage.connectors.readers import BadCell, ConnectorError, open_extract
from linkage.errors import ConfigError, Problem
from linkage.model import SHAPE
from linkage.outcomes.sources import NCCIS_TABLE
from linkage.resources import defaults_dir
from linkage.store import Store
from linkage.validation import DateError, is_valid_upn, normalise_upn, parse_date

__all__ = ["FIELDS", "NccisLoad", "NccisMapping", "load_nccis", "load_nccis_mapping", "store_activity"]

FIELDS = ("young_persons_id", "upn", "activity_code", "start_date", "date_ascertained", "due_to_lapse_date",
          "current_level")
_REQUIRED = ("young_persons_id", "upn", "activity_code", "start_date")
_DATES = ("start_date", "date_ascertained", "due_to_lapse_date")
_CODE = re.compile(r"^[1-8][0-9]{2}$")
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,39}$")
DDL = f"""CREATE TABLE IF NOT EXISTS store.{NCCIS_TABLE} (
  young_persons_id VARCHAR NOT NULL, upn VARCHAR NOT NULL, activity_code VARCHAR NOT NULL,
  start_date DATE NOT NULL, date_ascertained DATE, due_to_lapse_date DATE, current_level VARCHAR,
  file_name VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL)"""


class NccisMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    description: str = ""
    encoding: str = "utf-8"
    delimiter: str = ","
    fields: dict[str, str]

    def model_post_init(self, _: Any) -> None:
        unknown = set(self.fields) - set(FIELDS)
        missing = set(_REQUIRED) - set(self.fields)
        if unknown or missing or self.source != "nccis":
            raise ValueError(f"an NCCIS mapping needs source: nccis and fields {list(_REQUIRED)}; "
                             f"unknown fields: {sorted(unknown)}")


def load_nccis_mapping(path: Path | None = None) -> NccisMapping:
    path = Path(path) if path else defaults_dir("connectors") / "nccis.yaml"
    try:
        return NccisMapping(**yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, TypeError, ValueError, ValidationError) as exc:
        raise ConfigError(f"cannot use the NCCIS mapping {path.name}: {str(exc).splitlines()[0]}") from None


@dataclass
class NccisLoad:
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)


def _row(raw: dict, mapping: NccisMapping, line: int, out: NccisLoad) -> dict | None:
    row: dict[str, Any] = {}
    bad: list[str] = []
    for name, column in mapping.fields.items():
        value = raw.get(column)
        if isinstance(value, BadCell) or value is None or not str(value).strip():
            row[name] = None
            if isinstance(value, BadCell):
                bad.append(column)
            continue
        value = str(value).strip()
        try:
            if name in _DATES:
                value = parse_date(value)
            elif name == "upn":
                value = normalise_upn(value)
                if not is_valid_upn(value):
                    raise ValueError
            elif name == "activity_code" and not _CODE.match(value):
                raise ValueError
            elif name in ("young_persons_id", "current_level") and not _PLAIN.match(value):
                raise ValueError     # ids and levels are short and plain: never a formula or markup
        except (DateError, ValueError):
            bad.append(column)
            value = None
        row[name] = value
    missing = [mapping.fields[n] for n in _REQUIRED if row.get(n) is None]
    if missing:
        if len(out.problems) < 100:
            out.problems.append(Problem(f"line {line}", f"missing or invalid {', '.join(missing)}"))
        return None
    return row


def store_activity(store: Store, rows: list[dict], *, file_name: str) -> int:
    """Replace the stored NCCIS activity with ``rows``, in one transaction."""
    store.execute(DDL)
    frame = pd.DataFrame(rows, columns=list(FIELDS)).assign(
        file_name=file_name, loaded_at=datetime.now(timezone.utc).replace(tzinfo=None))
    with store.transaction():
        store.execute(f"DELETE FROM store.{NCCIS_TABLE}")
        store.insert_df(f"store.{NCCIS_TABLE}", frame)
    return len(frame)


def load_nccis(store: Store, path: Path, mapping: NccisMapping | None = None) -> NccisLoad:
    """Read an NCCIS CSV by its mapping and store it; rows without their key cells are left out."""
    mapping = mapping or load_nccis_mapping()
    extract = open_extract(Path(path), mapping.encoding, mapping.delimiter)
    absent = sorted(set(mapping.fields[n] for n in _REQUIRED) - set(extract.columns))
    if absent:
        extract.close()
        raise ConnectorError(f"{Path(path).name} has no column(s) {', '.join(absent)} the NCCIS mapping names")
    out, rows = NccisLoad(), []
    for line, raw in extract.rows:
        if raw is None:             # a blank line
            continue
        out.rows_read += 1
        row = None if SHAPE in raw else _row(raw, mapping, line, out)
        if row is None:
            out.rejected += 1
        else:
            rows.append(row)
    if why := extract.cut_short or extract.wrong_encoding:
        raise ConnectorError(f"{why}; the NCCIS activity already loaded is kept")
    out.accepted = store_activity(store, rows, file_name=Path(path).name)
    return out


