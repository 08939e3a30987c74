"""Finding the application's functions where they live now: modules of dispatch/ move (pages into
dispatch/pages/, services split into entries, catalog and lookup), and the harness should follow them
rather than break."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


def first_module(*names: str, having: str | None = None) -> ModuleType | None:
    """The first of `names` that imports (and defines `having`, when given); None when none does."""
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if having is None or hasattr(module, having):
            return module
    return None


def find(attribute: str, *modules: str) -> Any:
    """`attribute` from the first of `modules` that defines it; ImportError when none does."""
    module = first_module(*modules, having=attribute)
    if module is None:
        raise ImportError(f"{attribute} is in none of {', '.join(modules)}")
    return getattr(module, attribute)
