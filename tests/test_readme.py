"""The README's map of the code matches the tree, and it sends readers to nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def layout() -> str:
    return README.split("## Layout", 1)[1].split("```", 2)[1]


def test_every_module_of_the_package_is_on_the_map() -> None:
    modules = {path.name for path in (ROOT / "dispatch").glob("*.py")} | {
        path.name for path in (ROOT / "dispatch" / "pages").glob("*.py") if path.name != "__init__.py"
    }
    named = set(re.findall(r"\b(\w+\.py)\b", layout()))
    assert sorted(modules - named) == []
    assert sorted(named - modules) == []


def test_no_reference_outside_the_repository() -> None:
    assert "../" not in README
    for link in re.findall(r"\]\(([^)#]+)", README):
        if "://" not in link:
            assert (ROOT / link).exists(), link
