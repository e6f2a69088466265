"""The package layout is the architecture: data flows down, imports never point back up.

Every ``import`` in ``src/pushgate`` is read with :mod:`ast` — at module top,
inside functions (lazy imports) and under ``TYPE_CHECKING`` alike, since a
lazy import is still a dependency — and checked against two rules:

- the library (what ``pip install pushgate`` gives: the model, the clients,
  the send path, the simulators) imports nothing of the server side;
- the service and the layers below it import neither the HTTP surface
  (``pushgate.server``) nor the command line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import pushgate

PACKAGE = Path(pushgate.__file__).parent

LIBRARY = (
    "pushgate", "pushgate.notification", "pushgate.results", "pushgate.errors", "pushgate.blocking",
    "pushgate.transport", "pushgate.crypto", "pushgate.providers",
    "pushgate.simulators",
)
SERVER_SIDE = (
    "pushgate.registry", "pushgate.queue", "pushgate.planner", "pushgate.workers", "pushgate.service",
    "pushgate.server", "pushgate.admin", "pushgate.cli",
)
BELOW_HTTP = (
    "pushgate.service", "pushgate.workers", "pushgate.queue", "pushgate.planner", "pushgate.registry",
)
ABOVE_SERVICE = ("pushgate.server", "pushgate.admin", "pushgate.cli")

# Imports that break a rule today, each with the reason it is tolerated (none since the
# payload size check moved into the provider table's package).
TOLERATED: dict[tuple[str, str], str] = {}


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every module ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # ``from pushgate import server`` imports a module too.
            yield from (f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_module(node.value):
            yield node.value  # a lazy-import table or importlib.import_module("pushgate....")


def _is_module(name: str) -> bool:
    if not name.startswith("pushgate.") or not name.replace(".", "").replace("_", "").isalnum():
        return False
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _edges() -> list[tuple[str, str]]:
    edges: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        edges.extend((module, imported) for imported in _imports(path, module)
                     if _within(imported, ("pushgate",)))
    return edges


def _library(module: str) -> bool:
    # "pushgate" itself is only its __init__: every other top-level module is named on its own.
    return module == "pushgate" or _within(module, LIBRARY[1:])


def _breaks_a_rule(module: str, imported: str) -> bool:
    return (_library(module) and _within(imported, SERVER_SIDE)) or (
        _within(module, BELOW_HTTP) and _within(imported, ABOVE_SERVICE)
    )


def _violations() -> list[tuple[str, str]]:
    return sorted({(module, _owner(imported)) for module, imported in _edges()
                   if _breaks_a_rule(module, imported)})


def _owner(imported: str) -> str:
    """``from pushgate.server.credentials import check_credentials`` names the module, not the function."""
    candidate = imported
    while candidate and not (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() and not (
        PACKAGE.parent / candidate.replace(".", "/") / "__init__.py"
    ).exists():
        candidate = candidate.rpartition(".")[0]
    return candidate or imported


def test_the_scanner_sees_every_kind_of_import() -> None:
    edges = set(_edges())
    assert ("pushgate.cli.service_run", "pushgate.server") in edges  # a lazy import, inside a function
    assert ("pushgate.service.components", "pushgate.queue") in edges  # under TYPE_CHECKING
    assert ("pushgate.server.routes", "pushgate.server.routes.apps") in edges  # ``from x import module``
    assert ("pushgate.providers.apns.client", "pushgate.providers._base") in edges
    assert ("pushgate", "pushgate.providers.webpush") in edges  # a name in a lazy-import table


@pytest.mark.parametrize(("importer", "imported", "broken"), [
    ("pushgate.providers.apns", "pushgate.registry.models", True),
    ("pushgate", "pushgate.service.settings", True),
    ("pushgate.simulators.apns", "pushgate.cli", True),
    ("pushgate.workers.pool", "pushgate.server.app", True),
    ("pushgate.registry.db", "pushgate.cli", True),
    ("pushgate.service.runtime", "pushgate.server", True),
    ("pushgate.registry.admin_users", "pushgate.admin.auth", True),
    ("pushgate.server.app", "pushgate.service.components", False),
    ("pushgate.cli.admin", "pushgate.server.credentials", False),
    ("pushgate.workers.clients", "pushgate.providers._base", False),
    ("pushgate.providers.apns", "pushgate.transport", False),
])
def test_the_rules(importer: str, imported: str, broken: bool) -> None:
    assert _breaks_a_rule(importer, imported) is broken


def test_the_library_imports_nothing_of_the_server_side() -> None:
    broken = [(m, i) for m, i in _violations() if _library(m)]
    assert broken == []


def test_the_service_and_the_layers_below_import_neither_http_nor_cli() -> None:
    broken = [(m, i) for m, i in _violations() if _within(m, BELOW_HTTP) and (m, i) not in TOLERATED]
    assert broken == []


def test_every_tolerated_import_is_still_there() -> None:
    # An exception that is no longer needed is removed, so it cannot hide a new import.
    assert set(TOLERATED) <= set(_violations())
