"""The API reference pages (docs/api/<module>.md) list every public name of their module.

The pages group the names by hand; this test fails, naming them, when a public name is
added to a module without being added to its page.
"""

import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[2] / "docs" / "api"
MODULES = ("models", "driver", "systems", "distributed", "vqs", "analysis")


def public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return sorted(names)


def listed_names(page: Path) -> set[str]:
    """Names in autosummary lists (indented bare names) and py:data / py:function entries."""
    text = page.read_text()
    names = set(re.findall(r"^   ([A-Za-z_][A-Za-z0-9_]*)\s*$", text, flags=re.M))
    names |= set(re.findall(r"^\.\. py:(?:data|function):: ([A-Za-z_][A-Za-z0-9_]*)", text, re.M))
    return names


@pytest.mark.parametrize("name", MODULES)
def test_api_page_lists_every_public_name(name):
    module = importlib.import_module(f"netket_factored_vit.{name}")
    page = API / f"{name}.md"
    missing = sorted(set(public_names(module)) - listed_names(page))
    assert not missing, f"{page} does not list: {', '.join(missing)}"


@pytest.mark.parametrize("name", MODULES)
def test_api_page_lists_only_public_names(name):
    module = importlib.import_module(f"netket_factored_vit.{name}")
    page = API / f"{name}.md"
    unknown = sorted(listed_names(page) - set(public_names(module)))
    assert not unknown, f"{page} lists names that {module.__name__} does not export: {unknown}"
