"""Declarative column mappings: an authority edits YAML, not code."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError, field_validator,
                      model_validator)

from linkage.connectors.derive import DEFAULT_MISSING, FieldSpec, derived_name
from linkage.connectors.readers import BadCell
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


Rule = Callable[[str], "str | None"]


def _compile(fields: dict[str, str | FieldSpec], derived: dict[str, tuple[str, Rule]]) -> dict[str, str]:
    """Each field's column in the row: the file's own, or a spec's output column (added to ``derived``)."""
    out = {}
    for name, spec in fields.items():
        if isinstance(spec, str):
            out[name] = spec
        else:
            out[name] = derived_name(spec.column, name)
            derived[out[name]] = (spec.column, spec.rule(name))
    return out


class EventMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    fields: dict[str, str | FieldSpec]
    const: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> EventMapping:
        model = EVENT_TYPES.get(self.type)
        if model is None:
            raise ValueError(f"unknown event type {self.type!r}; known: {sorted(EVENT_TYPES)}")
        unknown = (set(self.fields) | set(self.const)) - set(model.model_fields)
        if unknown:
            raise ValueError(f"event {self.type!r} has no fields {sorted(unknown)}")
        for name, value in self.const.items():     # checked here, not as a traceback at ingest
            try:
                TypeAdapter(model.model_fields[name].annotation).validate_python(value)
            except ValidationError as exc:
                raise ValueError(f"event {self.type!r}: const {name} is not a valid value "
                                 f"({exc.errors()[0]['msg']})") from None
        return self


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    description: str = ""
    record_id: str
    encoding: str = "utf-8"
    delimiter: str = ","
    fields: dict[str, str | FieldSpec]
    events: list[EventMapping] = Field(default_factory=list)
    # Cell values that mean "no value" (compared ignoring case and surrounding spaces).
    # ``missing: []`` reads every value as it stands.
    missing: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING))
    path: str = ""
    # Spec output column -> (the file's column, the rule making it); see ``derive.py``.
    _derived: dict[str, tuple[str, Rule]] = PrivateAttr(default_factory=dict)
    _missing_pattern: str = PrivateAttr(default="")
    _missing_re: re.Pattern | None = PrivateAttr(default=None)

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
        # The error below says "tab": a reader writes the word, or the escape YAML leaves as two characters.
        v = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(v.strip().lower(), v)
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
        if isinstance(self.fields["forename"], str) and self.fields["forename"] == self.fields["surname"]:
            raise ValueError(f"forename and surname both read the column {self.fields['forename']!r}: if it "
                             "holds the whole name, give each {column: ..., split: \"surname, forename\"} "
                             "or split: \"forename surname\"")
        self.fields = _compile(self.fields, self._derived)
        for ev in self.events:
            ev.fields = _compile(ev.fields, self._derived)
        words = sorted({m.strip() for m in self.missing if m.strip()})
        # One pattern for both ingest paths (Python's re here, Arrow's RE2 column by column), so they agree.
        self._missing_pattern = (f"^[ \\t\\n\\r\\f\\v]*(?:{'|'.join(re.escape(w) for w in words)})[ \\t\\n\\r\\f\\v]*$"
                                 if words else "")
        self._missing_re = re.compile(self._missing_pattern, re.IGNORECASE) if words else None
        return self

    def required_columns(self) -> list[str]:
        """The file's columns that must be there: the record id's and the required fields' sources."""
        return list(dict.fromkeys([self.record_id] + [self.source_of(self.fields[f]) for f in REQUIRED_FIELDS]))

    def all_columns(self) -> list[str]:
        """The file's columns the mapping reads."""
        return list(dict.fromkeys(self.source_of(c) for c in self.row_columns()))

    def row_columns(self) -> list[str]:
        """The columns of a row as fields read it: the file's, or a spec's output column."""
        cols = [self.record_id, *self.fields.values()]
        for ev in self.events:
            cols.extend(ev.fields.values())
        return list(dict.fromkeys(cols))

    def source_of(self, column: str) -> str:
        return self._derived[column][0] if column in self._derived else column

    @property
    def missing_pattern(self) -> str:
        """The "no value" words as one anchored, case-blind regular expression ("" if none)."""
        return self._missing_pattern

    @property
    def derived(self) -> dict[str, tuple[str, Rule]]:
        return self._derived

    def is_missing(self, value: str) -> bool:
        """Whether a cell holds one of the words meaning "no value" (``N/A``, ``Unknown``, ...)."""
        return self._missing_re is not None and self._missing_re.match(value) is not None

    def derive(self, raw: dict[str, str | None]) -> dict[str, str | None]:
        """The row with "no value" words blanked and each spec's output column added."""
        row = {c: (None if v is not None and not isinstance(v, BadCell) and self.is_missing(v) else v)
               for c, v in raw.items()}
        for name, (column, rule) in self._derived.items():
            value = row.get(column)
            row[name] = value if value is None or isinstance(value, BadCell) else self.read(rule, value)
        return row

    def read(self, rule: Rule, value: str) -> str | None:
        """A spec's output for one cell; a part that is a "no value" word (``DAVIES, Unknown``) is blank."""
        out = rule(value)
        return None if out is not None and not isinstance(out, BadCell) and self.is_missing(out) else out


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
    if "path" in data:      # the file's own location, set here; never a key of the file
        raise ConfigError(f"mapping {path} is invalid: path: not a mapping key (the mapping is read "
                          "from where it is; name the extract on the command line)")
    try:
        return Mapping(**data, path=str(path))
    except ValidationError as exc:
        # A field is a column name or a spec: say what was wrong with the one given, not with both.
        errors = [e for e in exc.errors() if not (e["type"] == "string_type" and isinstance(e["input"], dict))
                  and not (e["loc"] and e["loc"][-1] == "str" and isinstance(e["input"], dict))]
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if '[' not in str(p) and p != 'str') or 'mapping'}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in errors or exc.errors())
        raise ConfigError(f"mapping {path} is invalid: {problems}") from None
