"""The developers' guide's layout rules, kept by reading the source: the request and command layers
hold no SQL (only ``store/`` talks to a database, the domain packages through it), no package
imports one that imports it back (nothing imports upward), and settings are read only through
``config.get_settings()``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import linkage

SRC = Path(linkage.__file__).parent
# The layers that take requests and commands: they call the service and domain functions.
TOP = ("cli", "api", "web", "service")
SQL = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|CREATE\s+(OR\s+REPLACE\s+)?"
                 r"(TEMP\s+)?(TABLE|VIEW|INDEX)|DROP\s+(TABLE|VIEW))\b")


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (SRC / pkg).rglob("*.py")) if packages else sorted(SRC.rglob("*.py"))


def _texts(tree: ast.AST):
    """Every string literal, with the literal parts of each f-string joined (its fields as ``?``)."""
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "?" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            yield node.lineno, node.value


def test_the_request_and_command_layers_hold_no_sql():
    found = [f"{p.relative_to(SRC)}:{line}: {text.strip()[:60]}" for p in _modules(*TOP)
             for line, text in _texts(ast.parse(p.read_text())) if SQL.search(text)]
    assert found == []


def _package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def test_no_package_imports_one_that_imports_it_back():
    uses: dict[str, set[str]] = {}
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            uses.setdefault(_package(p), set()).update(
                n.split(".")[1] for n in names if n.startswith("linkage.") and n.split(".")[1] != _package(p))

    def reaches(a: str, b: str, seen: set[str]) -> bool:
        return any(n == b or (n not in seen and reaches(n, b, seen | {n})) for n in uses.get(a, ()))

    assert len(uses) > 10
    assert sorted(p for p in uses if reaches(p, p, set())) == []


# Module cycles kept on purpose, each with its reason; any other fails the test below.
DELIBERATE_CYCLES = {
    # ``ServiceState(home)`` is the factory: it picks the backend module, whose class subclasses it.
    frozenset({"store.state.base", "store.state.postgres", "store.state.schema", "store.state.sqlite"}),
    # The signer asks a PostgreSQL audit log whether it holds keyed lines: psycopg only for that log.
    frozenset({"audit.log", "audit.pg", "audit.signer"}),
}


def _module_imports() -> dict[str, set[str]]:
    """Module -> the modules it imports, at its top or inside a function (an import placed late
    to dodge a cycle is still a cycle). ``from package import submodule`` names the submodule only."""
    def name(p: Path) -> str:
        parts = p.relative_to(SRC).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    mods = {name(p): p for p in _modules()}
    uses: dict[str, set[str]] = {}
    for m, p in mods.items():
        found = uses.setdefault(m, set())
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}"[8:] in mods]
                names = subs if len(subs) == len(node.names) else [node.module, *subs]
            else:
                continue
            found.update(n[8:] for n in names if n.startswith("linkage.") and n[8:] in mods and n[8:] != m)
    return uses


def test_no_module_imports_one_that_imports_it_back_even_late():
    uses = _module_imports()
    cycles, index, low, stack, seen = [], {}, {}, [], set()

    def visit(v: str) -> None:          # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        seen.add(v)
        for w in uses[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in seen:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = set()
            while not part or v not in part:
                part.add(stack.pop())
            seen.difference_update(part)
            if len(part) > 1:
                cycles.append(frozenset(part))

    for v in sorted(uses):
        if v not in index:
            visit(v)
    assert len(uses) > 100
    assert set(cycles) == DELIBERATE_CYCLES


def test_settings_are_read_only_through_get_settings():
    """``os.environ`` may be written (a server hands its workers their settings that way) but a
    ``LINKAGE_`` variable is read only by ``config.Settings``."""
    def reads(tree: ast.AST):
        for node in ast.walk(tree):
            key = None
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and ast.unparse(node.value) == "os.environ":
                key = node.slice
            elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv",
                                                                           "os.environ.setdefault") and node.args:
                key = node.args[0]
            if key is not None and not (isinstance(key, ast.Constant) and not str(key.value).startswith("LINKAGE_")):
                yield node.lineno, ast.unparse(node)

    found = [f"{p.relative_to(SRC)}:{line}: {text}" for p in _modules() if p.name != "config.py"
             for line, text in reads(ast.parse(p.read_text()))]
    assert found == []
