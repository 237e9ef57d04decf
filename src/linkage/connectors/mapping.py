"""Declarative column mappings: an authority edits YAML, not code."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from linkage.errors import ConfigError
from linkage.model import EVENT_TYPES, SOURCES, PersonRecord
from linkage.resources import defaults_dir

__all__ = ["EventMapping", "Mapping", "default_mapping_path", "load_mapping"]

_PERSON_FIELDS = set(PersonRecord.model_fields) - {"source", "source_record_id", "extract_date"}
REQUIRED_FIELDS = ("forename", "surname", "date_of_birth")


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice, instead of silently keeping the last."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice (line {key_node.start_mark.line + 1})",
                key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


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

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r} (e.g. utf-8, cp1252, utf-16)") from None
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, v: str) -> str:
        if v == "\\t":
            v = "\t"
        if len(v) != 1 or v.isalnum() or v in "\"\r\n ":
            raise ValueError(f"the delimiter must be one character such as , ; | or tab, not {v!r}")
        return v

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
    """The mapping at ``path``; every fault is one line naming the file."""
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 (safe)
    except OSError as exc:
        raise ConfigError(f"cannot read mapping {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read mapping {path}: it is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"mapping {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"mapping {path} is not a YAML mapping")
    try:
        return Mapping(**data, path=str(path))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise ConfigError(f"mapping {path} is invalid: {problems}") from None
