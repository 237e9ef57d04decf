"""The words the DfE and NHS use for their codes, so people read labels, not codes.

Each code list is a YAML file under ``connectors/reference/codes/`` that names its
source. A code nobody listed is shown as "Unknown code X", never an error: extracts
carry codes newer (or older) than any list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from linkage.errors import ConfigError
from linkage.resources import defaults_dir

__all__ = ["CodeList", "code_list", "codes", "kinds", "label"]

_SHOWN = 20   # an unknown code is shown, cut to this many characters


@dataclass(frozen=True)
class CodeList:
    kind: str
    title: str
    source: str
    labels: dict[str, str]


def _folder() -> Path:
    return defaults_dir("connectors") / "reference" / "codes"


def _read(path: Path) -> CodeList:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        labels = {str(k).strip().upper(): str(v).strip() for k, v in data["codes"].items()}
        return CodeList(str(data["kind"]), str(data["title"]), str(data["source"]).strip(), labels)
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"code list {path.name} cannot be read: {exc}") from None


@lru_cache(maxsize=1)
def _lists() -> dict[str, CodeList]:
    out: dict[str, CodeList] = {}
    for path in sorted(_folder().glob("*.yaml")):
        lst = _read(path)
        if lst.kind in out:
            raise ConfigError(f"code list {lst.kind!r} is defined twice (in {path.name})")
        out[lst.kind] = lst
    return out


def kinds() -> list[str]:
    return sorted(_lists())


def code_list(kind: str) -> CodeList:
    try:
        return _lists()[kind]
    except KeyError:
        raise ConfigError(f"no code list {kind!r}; there are {kinds()}") from None


def codes(kind: str) -> dict[str, str]:
    """Every code of a list and its label."""
    return dict(code_list(kind).labels)


def label(kind: str, code: object) -> str:
    """The label of a code; "Unknown code X" for one the list does not have.

    ``kind`` must be a list that exists (a programming error otherwise); ``code`` may
    be anything an extract held, including nothing.
    """
    labels = code_list(kind).labels
    text = "" if code is None else str(code).strip()
    if not text:
        return "Not recorded"
    found = labels.get(text.upper())
    if found is not None:
        return found
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return f"Unknown code {shown}"
