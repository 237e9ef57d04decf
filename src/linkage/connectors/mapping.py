"""Declarative column mappings: an authority edits YAML, not code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from linkage.errors import ConfigError
from linkage.model import EVENT_TYPES, SOURCES, PersonRecord
from linkage.resources import defaults_dir

__all__ = ["EventMapping", "Mapping", "default_mapping_path", "load_mapping"]

_PERSON_FIELDS = set(PersonRecord.model_fields) - {"source", "source_record_id", "extract_date"}
REQUIRED_FIELDS = ("forename", "surname", "date_of_birth")


class EventMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    fields: dict[str, str]
    const: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> EventMapping:
        model = EVENT_TYPES.get(self.type)
        if model is None:
            raise ValueError(f"unknown event type {self.type!r}; known: {sorted(EVENT_TYPES)}")
        unknown = (set(self.fields) | set(self.const)) - set(model.model_fields)
        if unknown:
            raise ValueError(f"event {self.type!r} has no fields {sorted(unknown)}")
        return self


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    description: str = ""
    record_id: str
    encoding: str = "utf-8"
    delimiter: str = ","
    fields: dict[str, str]
    events: list[EventMapping] = Field(default_factory=list)
    path: str = ""

    @model_validator(mode="after")
    def _check(self) -> Mapping:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        unknown = set(self.fields) - _PERSON_FIELDS
        if unknown:
            raise ValueError(f"unknown canonical fields {sorted(unknown)}")
        missing = [f for f in REQUIRED_FIELDS if f not in self.fields]
        if missing:
            raise ValueError(f"the mapping must name columns for {missing}")
        return self

    def required_columns(self) -> list[str]:
        return [self.record_id] + [self.fields[f] for f in REQUIRED_FIELDS]

    def all_columns(self) -> list[str]:
        cols = [self.record_id, *self.fields.values()]
        for ev in self.events:
            cols.extend(ev.fields.values())
        return list(dict.fromkeys(cols))


def default_mapping_path(source: str) -> Path:
    return defaults_dir("connectors") / f"{source}.yaml"


def load_mapping(path: Path) -> Mapping:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read mapping {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"mapping {path} is not a YAML mapping")
    try:
        return Mapping(**data, path=str(path))
    except ValidationError as exc:
        raise ConfigError(f"mapping {path} is invalid:\n{exc}") from None
