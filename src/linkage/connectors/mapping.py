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
# Every plain value is text: YAML 1.1 would read a column called ``No`` or ``On`` as a boolean and a
# code ``1`` as a number (``values: {1: M}``); pydantic reads numbers from text where a field wants one.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


Rule = Callable[[Any], "str | None"]


def _compile(fields: dict[str, str | FieldSpec], derived: dict[str, tuple[FieldSpec, Rule]]) -> dict[str, str]:
    """Each field's column in the row: the file's own, or a spec's output column (added to ``derived``)."""
    out = {}
    for name, spec in fields.items():
        if isinstance(spec, str):
            out[name] = spec
        else:
            out[name] = derived_name(spec.column, name)
            derived[out[name]] = (spec, spec.rule(name))
    return out


# Columns an authority's export often has that no field keeps: what to do instead of naming them.
_NOT_KEPT = {"ethnicity": "ethnicity is not kept (linking does not use it, and it is special-category data)",
             "religion": "religion is not kept (special-category data)",
             "language": "first language is not kept", "first_language": "first language is not kept",
             "email": "e-mail addresses are not kept", "phone": "a child's phone number is not kept",
             "telephone": "a child's phone number is not kept",
             "age": "age is worked out from date_of_birth", "gender": "gender is the field sex",
             "dob": "the date of birth is the field date_of_birth",
             "nhs": "the NHS number is the field nhs_number", "nhs_no": "the NHS number is the field nhs_number",
             "postcode_in_address": "a postcode inside the address is postcode: {column: ..., find: postcode}",
             "address_line1": "address lines are one field: address: {columns: [...], join: \", \"}",
             "address_line2": "address lines are one field: address: {columns: [...], join: \", \"}",
             "town": "the town is part of address: {columns: [...], join: \", \"}",
             "school": "the school is an enrolment event's school_urn (events: - type: enrolment)"}


def _unknown_fields(unknown: set[str]) -> str:
    said = [f"{f}: {_NOT_KEPT[f.casefold()]}" for f in sorted(unknown) if f.casefold() in _NOT_KEPT]
    return (f"unknown canonical fields {sorted(unknown)}; columns the mapping does not name are ignored, so "
            f"leave out a column linkage does not keep" + (f" ({'; '.join(said)})" if said else "")
            + f"; the fields are {sorted(_PERSON_FIELDS)}")


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
    record_id: str | FieldSpec
    encoding: str = "utf-8"
    delimiter: str = ","
    fields: dict[str, str | FieldSpec]
    events: list[EventMapping] = Field(default_factory=list)
    # Cell values that mean "no value" (compared ignoring case and surrounding spaces).
    # ``missing: []`` reads every value as it stands.
    missing: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING))
    path: str = ""
    # Spec output column -> (the file's column, the rule making it); see ``derive.py``.
    _derived: dict[str, tuple[FieldSpec, Rule]] = PrivateAttr(default_factory=dict)
    _missing_pattern: str = PrivateAttr(default="")
    _missing_re: re.Pattern | None = PrivateAttr(default=None)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r} (e.g. utf-8, cp1252, utf-16)") from None
        try:        # a codec of bytes to bytes (zlib_codec, hex) or text to text (rot13) reads no file
            b"a".decode(v)      # (an empty string is never decoded, so not checked)
        except LookupError:
            raise ValueError(f"{v!r} is not a text encoding (e.g. utf-8, cp1252, utf-16)") from None
        except ValueError:      # a text encoding this one byte is not valid in (utf-16, undefined)
            pass
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
            raise ValueError(_unknown_fields(unknown))
        missing = [f for f in REQUIRED_FIELDS if f not in self.fields]
        if missing:
            raise ValueError(f"the mapping must name columns for {missing}")
        if isinstance(self.fields["forename"], str) and self.fields["forename"] == self.fields["surname"]:
            raise ValueError(f"forename and surname both read the column {self.fields['forename']!r}: if it "
                             "holds the whole name, give each {column: ..., split: \"surname, forename\"} "
                             "or split: \"forename surname\"")
        self.fields = _compile(self.fields, self._derived)
        if isinstance(self.record_id, FieldSpec):
            self.record_id = _compile({"record_id": self.record_id}, self._derived)["record_id"]
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
        return list(dict.fromkeys(c for column in [self.record_id, *(self.fields[f] for f in REQUIRED_FIELDS)]
                                  for c in self.sources_of(column)))

    def all_columns(self) -> list[str]:
        """The file's columns the mapping reads."""
        return list(dict.fromkeys(c for column in self.row_columns() for c in self.sources_of(column)))

    def row_columns(self) -> list[str]:
        """The columns of a row as fields read it: the file's, or a spec's output column."""
        cols = [self.record_id, *self.fields.values()]
        for ev in self.events:
            cols.extend(ev.fields.values())
        return list(dict.fromkeys(cols))

    def source_of(self, column: str) -> str:
        """The file's column a row column comes from (several joined: their names joined by `` + ``)."""
        return self._derived[column][0].column if column in self._derived else column

    def sources_of(self, column: str) -> list[str]:
        """The file's columns a row column is read from."""
        return self._derived[column][0].sources if column in self._derived else [column]

    @property
    def missing_pattern(self) -> str:
        """The "no value" words as one anchored, case-blind regular expression ("" if none)."""
        return self._missing_pattern

    @property
    def derived(self) -> dict[str, tuple[FieldSpec, Rule]]:
        return self._derived

    def is_missing(self, value: str) -> bool:
        """Whether a cell holds one of the words meaning "no value" (``N/A``, ``Unknown``, ...)."""
        return self._missing_re is not None and self._missing_re.match(value) is not None

    def derive(self, raw: dict[str, str | None]) -> dict[str, str | None]:
        """The row with "no value" words blanked and each spec's output column added."""
        row = {c: (None if v is not None and not isinstance(v, BadCell) and self.is_missing(v) else v)
               for c, v in raw.items()}
        for name, (spec, rule) in self._derived.items():
            if spec.columns is not None:
                cells = [row.get(c) for c in spec.columns]
                bad = next((c for c in cells if isinstance(c, BadCell)), None)
                row[name] = bad if bad is not None else self.read(rule, cells)
                continue
            value = row.get(spec.column)
            row[name] = value if value is None or isinstance(value, BadCell) else self.read(rule, value)
        return row

    def read(self, rule: Rule, value: Any) -> str | None:
        """A spec's output for one cell; a part that is a "no value" word (``DAVIES, Unknown``) is blank."""
        out = rule(value)
        return None if out is not None and not isinstance(out, BadCell) and self.is_missing(out) else out


def default_mapping_path(source: str) -> Path:
    return defaults_dir("connectors") / f"{source}.yaml"


def _spec(loc: tuple) -> bool:
    """Whether an error is about the spec branch of ``str | FieldSpec`` (pydantic's own wording)."""
    return bool(loc) and "FieldSpec" in str(loc[-1])


def _yaml_fault(exc: yaml.YAMLError) -> str:
    """Where and what, in the editor's terms (line and column from 1): PyYAML's own text quotes
    ``"<unicode string>"`` and a caret, and says nothing of the commonest fault, a tab."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    if "'\\t'" in problem:
        return f"{where} holds a tab: YAML indents with spaces only (replace the tab with two spaces)"
    if problem == "mapping values are not allowed here":
        problem += " (a ':' missing on the line above, or a value holding ': ' that needs quotes)"
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and start.line != mark.line:
        context += f" that starts at line {start.line + 1}, column {start.column + 1}"
    return f"{where}: {problem}" + (f" ({context})" if context else "")


def load_mapping(path: Path) -> Mapping:
    """The mapping at ``path``; every fault is one line naming the file."""
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 (safe)
    except OSError as exc:
        raise ConfigError(f"cannot read mapping {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read mapping {path}: it is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"mapping {path} is not valid YAML: {_yaml_fault(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"mapping {path} is not a YAML mapping")
    if "path" in data:      # the file's own location, set here; never a key of the file
        raise ConfigError(f"mapping {path} is invalid: path: not a mapping key (the mapping is read "
                          "from where it is; name the extract on the command line)")
    try:
        return Mapping(**data, path=str(path))
    except ValidationError as exc:
        # A field is a column name or a spec: say what was wrong with the one given, not with both.
        errors = [e for e in exc.errors() if not (e["type"] == "string_type" and isinstance(e["input"], (dict, list)))
                  and not (e["loc"] and e["loc"][-1] == "str" and isinstance(e["input"], (dict, list)))
                  and not (isinstance(e["input"], list) and _spec(e["loc"]))]
        for e in exc.errors():          # a list where a column goes: several columns are one joining spec
            if isinstance(e["input"], list) and _spec(e["loc"]):
                e["msg"] = f"several columns are one spec: {{columns: [{', '.join(map(str, e['input']))}], join: \", \"}}"
                errors.append(e)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if '[' not in str(p) and p != 'str') or 'mapping'}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in errors or exc.errors())
        raise ConfigError(f"mapping {path} is invalid: {problems}") from None
