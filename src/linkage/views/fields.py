"""Every field a response carries, and the data categories it comes from.

A response is built through one of these mappings, field by field, and only for the
categories the policy allowed; the build returns, beside the response, the categories
of exactly the fields it put in, which is what the audit entry's ``fields`` records. So
what the log says was shared is what was shared, and a field with no category cannot be
served at all.

Field names are paths into the response object: ``"addresses"`` or, one level down,
``"latest_contact.health"``. A field may have variants, most telling first: addresses
tagged with the agency that holds them tell which agencies know the child, so that
variant also needs ``identity.known_to``, and the plain one does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["Field", "Fields", "build", "categories", "columns"]


@dataclass(frozen=True)
class Field:
    category: str
    build: Callable[[Any], Any]
    reads: tuple[str, ...] = ()          # the document lists the builder reads
    also: tuple[str, ...] = ()           # further categories the value tells of
    # A value that tells more than the field's category: the category it comes from instead.
    by_value: Mapping[Any, str] = field(default_factory=dict)

    def needs(self) -> set[str]:
        return {self.category, *self.also}

    def tells(self, value: Any) -> set[str]:
        """The categories this value comes from."""
        try:
            own = self.by_value.get(value, self.category)
        except TypeError:                  # unhashable values never have their own category
            own = self.category
        return {own, *self.also}


Fields = Mapping[str, Union[Field, tuple[Field, ...]]]


def _variants(f: Field | tuple[Field, ...]) -> tuple[Field, ...]:
    return f if isinstance(f, tuple) else (f,)


def _chosen(fields: Fields, allowed: set[str]):
    """Each path with its most telling variant the allowed categories cover."""
    for path, f in fields.items():
        chosen = next((v for v in _variants(f) if v.needs() <= allowed), None)
        if chosen is not None:
            yield path, chosen


def categories(fields: Fields) -> set[str]:
    return {c for f in fields.values() for v in _variants(f) for c in (v.needs() | set(v.by_value.values()))}


def columns(fields: Fields, allowed: Iterable[str]) -> list[str]:
    """The document lists the allowed fields read: data that is withheld is never read."""
    return sorted({col for _, f in _chosen(fields, set(allowed)) for col in f.reads})


def build(fields: Fields, source: Any, allowed: Iterable[str]) -> tuple[dict[str, Any], set[str]]:
    """The allowed fields that have a value, and the categories of exactly those.

    A value telling more than its field's category (``by_value``) is dropped unless that
    category is allowed too; nothing to show (None) is shown as nothing."""
    allowed = set(allowed)
    out: dict[str, Any] = {}
    shown: set[str] = set()
    for path, f in _chosen(fields, allowed):
        value = f.build(source)
        if value is None or not f.tells(value) <= allowed:
            continue
        head, _, sub = path.partition(".")
        if sub:
            out.setdefault(head, {})[sub] = value
        else:
            out[head] = value
        shown |= f.tells(value)
    return out, shown
