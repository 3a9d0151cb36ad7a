"""Branch protection as code: what a repository requires before a change reaches a branch.

Three forms are read, each as GitHub or its tools write it:

- `.github/settings.yml` of the Settings app (probot/settings): `branches:` entries with
  `protection.required_status_checks.contexts` (or `checks[].context`) and
  `protection.required_pull_request_reviews.required_approving_review_count`;
- the JSON of `gh api repos/OWNER/REPO/branches/BRANCH/protection` (the REST API's
  branch protection: the same keys at the top level, `url` naming the branch);
- the JSON of a repository ruleset (`gh api repos/OWNER/REPO/rulesets/ID`): `rules` of
  type `required_status_checks` and `pull_request`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class RepoSettingsError(ValueError):
    """The settings file cannot be read as branch protection; the message says why."""


@dataclass(frozen=True)
class BranchProtection:
    source: Path
    form: str
    branch: str
    required_checks: tuple[str, ...]
    required_reviews: int
    strict: bool
    """Branches must be up to date with the base before merging."""
    enforce_admins: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "form": self.form,
            "branch": self.branch,
            "required_checks": list(self.required_checks),
            "required_reviews": self.required_reviews,
            "strict": self.strict,
            "enforce_admins": self.enforce_admins,
        }


def _checks(status_checks: Any) -> tuple[list[str], bool]:
    if not isinstance(status_checks, dict):
        return [], False
    names = [str(name) for name in status_checks.get("contexts") or []]
    for check in status_checks.get("checks") or []:
        if isinstance(check, dict) and check.get("context"):
            names.append(str(check["context"]))
    return list(dict.fromkeys(names)), bool(status_checks.get("strict"))


def _reviews(reviews: Any) -> int:
    if not isinstance(reviews, dict):
        return 0
    count = reviews.get("required_approving_review_count", 1 if reviews else 0)
    return int(count) if isinstance(count, int) else 0


def _enforce_admins(value: Any) -> bool | None:
    if isinstance(value, dict):
        return bool(value.get("enabled"))
    return None if value is None else bool(value)


def _from_protection(source: Path, form: str, branch: str, protection: dict[str, Any]) -> BranchProtection:
    checks, strict = _checks(protection.get("required_status_checks"))
    return BranchProtection(
        source,
        form,
        branch,
        tuple(checks),
        _reviews(protection.get("required_pull_request_reviews")),
        strict,
        _enforce_admins(protection.get("enforce_admins")),
    )


def _settings_app(source: Path, document: dict[str, Any], branch: str | None) -> BranchProtection:
    repository = document.get("repository") if isinstance(document.get("repository"), dict) else {}
    wanted = branch or str((repository or {}).get("default_branch") or "main")
    branches = document.get("branches") or []
    if not isinstance(branches, list):
        raise RepoSettingsError(f"{source}: `branches` must be a list of {{name, protection}}")
    for entry in branches:
        if isinstance(entry, dict) and str(entry.get("name")) == wanted:
            protection = entry.get("protection")
            if not isinstance(protection, dict):
                raise RepoSettingsError(
                    f"{source}: branch {wanted!r} has no `protection` (it is unprotected)"
                )
            return _from_protection(source, "settings app (.github/settings.yml)", wanted, protection)
    names = [str(entry.get("name")) for entry in branches if isinstance(entry, dict)]
    raise RepoSettingsError(
        f"{source}: no protection for the branch {wanted!r} (protected: {', '.join(names) or 'none'})"
    )


def _ruleset(source: Path, document: dict[str, Any], branch: str | None) -> BranchProtection:
    checks: list[str] = []
    strict = False
    reviews = 0
    for rule in document.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        parameters = rule.get("parameters") if isinstance(rule.get("parameters"), dict) else {}
        if rule.get("type") == "required_status_checks":
            for check in (parameters or {}).get("required_status_checks") or []:
                if isinstance(check, dict) and check.get("context"):
                    checks.append(str(check["context"]))
            strict = bool((parameters or {}).get("strict_required_status_checks_policy"))
        elif rule.get("type") == "pull_request":
            reviews = int((parameters or {}).get("required_approving_review_count") or 0)
    if document.get("enforcement") not in (None, "active"):
        raise RepoSettingsError(
            f"{source}: the ruleset's enforcement is {document.get('enforcement')!r}, not active"
        )
    included = ((document.get("conditions") or {}).get("ref_name") or {}).get("include") or []
    target = branch or ("main" if not included else str(included[0]).removeprefix("refs/heads/"))
    return BranchProtection(
        source, "repository ruleset (JSON)", target, tuple(dict.fromkeys(checks)), reviews, strict, None
    )


def load_branch_protection(path: Path, branch: str | None = None) -> BranchProtection:
    """The protection of `branch` (default: the repository's default branch, else main)."""
    if path.is_dir():
        path = path / ".github" / "settings.yml" if (path / ".github").is_dir() else path / "settings.yml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RepoSettingsError(f"{path}: cannot read the repository settings: {exc}") from exc
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise RepoSettingsError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from exc
    if not isinstance(document, dict):
        raise RepoSettingsError(f"{path}: expected a mapping at the top level")
    if "branches" in document:
        return _settings_app(path, document, branch)
    if "rules" in document:
        return _ruleset(path, document, branch)
    if "required_status_checks" in document or "required_pull_request_reviews" in document:
        found = re.search(r"/branches/([^/]+)/protection", str(document.get("url", "")))
        return _from_protection(
            path,
            "branch protection (REST API JSON)",
            branch or (found.group(1) if found else "main"),
            document,
        )
    raise RepoSettingsError(
        f"{path}: neither a settings app file (branches:), a branch protection export "
        "(required_status_checks:) nor a ruleset (rules:)"
    )
