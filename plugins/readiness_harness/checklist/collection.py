"""Collect the checklist's .feature files directly, and register their tags as markers.

QA adds a scenario to a .feature file and it runs: no test module to keep in step.
Each feature file becomes a module whose tests are pytest-bdd's `scenarios()` for it,
so pytest-bdd (and allure-pytest-bdd) see ordinary pytest-bdd tests.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

TAG_PATTERN = re.compile(r"(?<!\S)@([A-Za-z_][\w-]*)")

_BIND_SOURCE = "from pytest_bdd import scenarios\nscenarios(__feature_path__)\n"


def feature_files(features_dir: Path) -> list[Path]:
    return sorted(features_dir.rglob("*.feature")) if features_dir.is_dir() else []


def feature_tags(paths: list[Path]) -> dict[str, str]:
    """Every tag used in the files -> the first feature that uses it (for marker help)."""
    tags: dict[str, str] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith("@"):
                for tag in TAG_PATTERN.findall(stripped):
                    tags.setdefault(tag, path.name)
    return tags


def register_markers(config: pytest.Config, features_dir: Path) -> None:
    for tag, source in sorted(feature_tags(feature_files(features_dir)).items()):
        config.addinivalue_line("markers", f"{tag}: checklist tag from {source}")


class FeatureModule(pytest.Module):
    """A .feature file collected as a module of pytest-bdd scenarios."""

    def _getobj(self) -> types.ModuleType:
        module = types.ModuleType(f"checklist_{self.path.stem}")
        module.__file__ = str(self.path)
        module.__dict__["__feature_path__"] = str(self.path)
        code = compile(_BIND_SOURCE, str(self.path), "exec")
        exec(code, module.__dict__)  # noqa: S102 - fixed source: binds this file's scenarios
        return module


def collect_feature(file_path: Path, parent: pytest.Collector, features_dir: Path) -> FeatureModule | None:
    if file_path.suffix != ".feature":
        return None
    try:
        file_path.relative_to(features_dir)
    except ValueError:
        return None
    module: FeatureModule = FeatureModule.from_parent(parent, path=file_path)
    return module
