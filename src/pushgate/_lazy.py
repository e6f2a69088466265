"""Package attributes imported on first use (PEP 562's module ``__getattr__``).

Why: ``import pushgate`` must not load the send stacks (HTTP/2, JWT, ECE),
looking up a provider's spec must not load its client, and importing
:mod:`pushgate.service.settings` must not pull the whole service in. Each such
package names where its public attributes live, and this builds the one
``__getattr__`` they share.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    package: str, where: Mapping[str, str], namespace: dict[str, Any] | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from the module ``where[name]``.

    With ``namespace`` (the package's ``globals()``) the value is kept there,
    so the import happens once.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        if namespace is not None:
            namespace[name] = value
        return value

    return __getattr__
