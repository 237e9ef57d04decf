"""Every field a response carries, and the one data category it comes from.

A response is built through one of these mappings, field by field, and only for
the categories the policy allowed; the audit entry's ``fields`` is then read back
from the built response through the same mapping. So what the log says was shared
is exactly what was shared, and a field with no category cannot be served at all.

Field names are paths into the response object: ``"addresses"`` or, one level
down, ``"latest_contact.health"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Field", "build", "categories", "columns", "served"]


@dataclass(frozen=True)
class Field:
    category: str
    build: Callable[[Any], Any]
    reads: tuple[str, ...] = ()          # the document lists the builder reads
    # A value that tells more than the field's category: the category it comes from instead.
    by_value: Mapping[Any, str] = field(default_factory=dict)

    def category_of(self, value: Any) -> str:
        try:
            return self.by_value.get(value, self.category)
        except TypeError:                  # unhashable values never have their own category
            return self.category

    def categories(self) -> set[str]:
        return {self.category, *self.by_value.values()}


def categories(fields: Mapping[str, Field]) -> set[str]:
    return {c for f in fields.values() for c in f.categories()}


def columns(fields: Mapping[str, Field], allowed: Iterable[str]) -> list[str]:
    """The document lists the allowed fields read: data that is withheld is never read."""
    allowed = set(allowed)
    return sorted({col for f in fields.values() if f.category in allowed for col in f.reads})


def build(fields: Mapping[str, Field], source: Any, allowed: Iterable[str]) -> dict[str, Any]:
    """Only the fields whose category is allowed and that have a value; a value telling more than
    its field's category is dropped unless that category is allowed too."""
    allowed = set(allowed)
    out: dict[str, Any] = {}
    for path, f in fields.items():
        if f.category not in allowed:
            continue
        value = f.build(source)
        if value is None or f.category_of(value) not in allowed:
            continue                       # nothing to show is shown as nothing
        head, _, sub = path.partition(".")
        if sub:
            out.setdefault(head, {})[sub] = value
        else:
            out[head] = value
    return out


def served(fields: Mapping[str, Field], payload: Mapping[str, Any]) -> set[str]:
    """The categories of the fields present (not None) in a built response object."""
    out = set()
    for path, f in fields.items():
        head, _, sub = path.partition(".")
        value = payload.get(head)
        if sub:
            value = value.get(sub) if isinstance(value, Mapping) else None
        if value is not None:
            out.add(f.category_of(value))
    return out
