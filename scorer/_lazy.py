"""A package's public names, imported from its private modules on first use (PEP 562).

Every package re-exports its public names this way, so importing a package
costs nothing until a name is used: ``scorer --help`` stays fast, and a private
module can import a sibling package's private module without running (or
cycling through) that package's ``__init__``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, sources: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` for ``package``, given module -> names it defines.

    A name is imported from its module on first access and then stored in the
    package, so later lookups skip ``__getattr__``.
    """
    module_of = {name: module for module, names in sources.items() for name in names}
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(module_of))

    return __getattr__, __dir__
