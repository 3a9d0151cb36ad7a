"""Collect the checklist's .feature files directly, and register their tags as markers.

QA adds a scenario to a .feature file and it runs: no test module to keep in step.
Each feature file becomes a module whose tests are pytest-bdd's `scenarios()` for it,
so pytest-bdd (and allure-pytest-bdd) see ordinary pytest-bdd tests.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from pytest_bdd.feature import get_feature

_BIND_SOURCE = "from pytest_bdd import scenarios\nscenarios(__feature_path__)\n"


def feature_files(features_dir: Path) -> list[Path]:
    return sorted(features_dir.rglob("*.feature")) if features_dir.is_dir() else []


def marker_descriptions(paths: list[Path]) -> dict[str, str]:
    """Every tag used in the files -> what `-m tag` selects: an area by its title, or the
    line(s) by their wording (for `pytest --markers`)."""
    lines_of: dict[str, list[str]] = {}
    areas: dict[str, str] = {}
    for path in paths:
        feature = get_feature(str(path.parent), path.name)
        for tag in sorted(feature.tags):
            areas.setdefault(tag, f"{feature.name} ({path.name}, {len(feature.scenarios)} lines)")
        for scenario in feature.scenarios.values():
            for tag in sorted(scenario.tags):
                lines_of.setdefault(tag, []).append(scenario.name)
    described = {tag: f"checklist area: {title}" for tag, title in areas.items()}
    for tag, names in lines_of.items():
        shown = "; ".join(dict.fromkeys(names))
        count = len(set(names))
        described.setdefault(tag, f"checklist line{'s' if count > 1 else ''}: {shown[:300]}")
    return described


def register_markers(config: pytest.Config, features_dir: Path) -> None:
    for tag, description in sorted(marker_descriptions(feature_files(features_dir)).items()):
        config.addinivalue_line("markers", f"{tag}: {description}")


class FeatureModule(pytest.Module):
    """A .feature file collected as a module of pytest-bdd scenarios."""

    def _getobj(self) -> types.ModuleType:
        module = types.ModuleType(f"checklist_{self.path.stem}")
        module.__file__ = str(self.path)
        module.__dict__["__feature_path__"] = str(self.path)
        code = compile(_BIND_SOURCE, str(self.path), "exec")
        exec(code, module.__dict__)  # noqa: S102  # nosec B102 # fixed source: binds this file's scenarios
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
