"""The documentation keeps up: every setting of the API is in the README's configuration
table, links stay inside the repository, the license is the one pyproject names."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

from pydantic_settings import BaseSettings

from mercato.modules import MODULES
from mercato.platform.config import Settings

ROOT = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"\]\(([^)#\s]+)")


def _variables(settings: type[BaseSettings]) -> Iterator[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    for name, field in settings.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            yield from _variables(kind)
        elif isinstance(field.validation_alias, str):
            yield field.validation_alias
        else:
            yield (prefix + name).upper()


def test_every_setting_of_the_api_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    classes: list[type[BaseSettings]] = [Settings]
    classes += [module.settings for module in MODULES if module.settings is not None]
    missing = [name for cls in classes for name in _variables(cls) if f"`{name}`" not in readme]
    assert missing == []


def test_links_stay_inside_the_repository() -> None:
    for page in [ROOT / "README.md", ROOT / "CHANGELOG.md", *ROOT.glob("docs/**/*.md")]:
        text = page.read_text()
        assert "../shared" not in text, page
        for target in _LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), (page, target)
            assert resolved.exists(), (page, target)


def test_the_license_is_the_one_pyproject_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"]["text"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
