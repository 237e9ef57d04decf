"""A package's public names, imported from their modules on first use (PEP 562).

A package ``__init__`` that imported every module eagerly made ``import linkage.views.status``
load the reference registers, the connectors and YAML (0.2 CPU s) for a command that uses none
of them; every CLI process and server start paid it.
"""

from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, names: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for ``package``: each name in ``names`` comes from its module."""

    def __getattr__(name: str):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        globals_ = import_module(package).__dict__
        globals_[name] = value            # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(import_module(package).__dict__) | set(names))

    return __getattr__, __dir__
