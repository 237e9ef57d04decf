"""The closed list of organisation types and the roles each may hold (``policies/roles.yaml``).

Registration refuses anything else, and the engine refuses policies that name a
role or type the list does not hold, so a typo cannot silently deny (or allow).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import yaml

from linkage.errors import ConfigError
from linkage.resources import defaults_dir

__all__ = ["roles", "named_in_policies"]


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime: float) -> dict[str, tuple[str, ...]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data or not all(
            isinstance(t, str) and isinstance(r, list) and r and all(isinstance(x, str) for x in r)
            for t, r in data.items()):
        raise ConfigError(f"{path} must map each organisation type to a non-empty list of roles")
    return {t: tuple(r) for t, r in data.items()}


def roles(directory: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Organisation type -> the roles its clients may hold."""
    path = Path(directory or defaults_dir("policies")) / "roles.yaml"
    if not path.exists():
        raise ConfigError(f"no roles.yaml in {path.parent}")
    return dict(_load(path, path.stat().st_mtime))


def named_in_policies(policies_json: str) -> tuple[set[str], set[str]]:
    """The organisation types and roles that Cedar policies (as JSON) compare against."""
    types: set[str] = set()
    names: set[str] = set()
    wanted = {"agency_type": types, "role": names}

    def attr(node) -> str | None:
        if isinstance(node, dict) and "." in node and node["."].get("left") == {"Var": "principal"}:
            return node["."].get("attr")
        return None

    def values(node) -> list[str]:
        if isinstance(node, dict):
            if isinstance(node.get("Value"), str):
                return [node["Value"]]
            return [v for item in node.get("Set", []) for v in values(item)]
        return []

    def walk(node) -> None:
        if isinstance(node, dict):
            for op in ("==", "!=", "contains", "in"):
                body = node.get(op)
                if isinstance(body, dict) and {"left", "right"} <= body.keys():
                    for a, b in ((body["left"], body["right"]), (body["right"], body["left"])):
                        if attr(a) in wanted:
                            wanted[attr(a)].update(values(b))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(policies_json))
    return types, names
