"""Build the readiness HTML report offline with Allure 3, and read back what it holds.

Allure 3 is the npm package `allure`, pinned in the repository's package.json and
installed with `npm ci` into node_modules (never downloaded at report time). The
report is configured by allurerc.mjs at the repository root: name, the awesome
plugin, and history kept in a JSONL file that each build appends one run to.

allure 3.18.0's awesome template embeds a Google Analytics tag that no config field
turns off (allure-framework/allure3#476), so `build_report` removes it from the
generated HTML and then refuses a report whose markup or code still refers to any
host outside a short list of inert references (XML namespaces, a footer link).

    allure = ensure_allure(project_root)
    report = build_report(Path("allure-results"), Path("allure-report"), Path("history.jsonl"))
    for case in report_data(report):
        case["name"], case["labels"]
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from readiness_harness.paths import PROJECT_ROOT

"""The checkout this module lives in (installed editable): package.json, allurerc.mjs."""

CONFIG_NAME = "allurerc.mjs"
HISTORY_ENV = "READINESS_ALLURE_HISTORY"
NAME_ENV = "READINESS_REPORT_NAME"
"""Environment variable allurerc.mjs reads the report's name from."""
DEFAULT_NAME = "Production readiness"
"""Environment variable allurerc.mjs reads the history file's path from."""

NPM_CI = ("npm", "ci", "--no-audit", "--no-fund")
INSTALL_TIMEOUT_S = 600.0
GENERATE_TIMEOUT_S = 300.0

ANALYTICS_MARKERS = (
    "googletagmanager.com",
    "google-analytics.com",
    "gtag(",
    "datalayer",
    "mc.yandex.",
    "metrika.yandex",
    "yandex.ru/metrika",
    "yandex.com/metrika",
)
"""Strings (compared case-insensitively) that no file of an offline report may contain:
the analytics hosts and the gtag/dataLayer calls. Bare words like "metrika" are not
markers: the report's translations use it ("metric" in Azerbaijani)."""

INERT_HOSTS = frozenset({"www.w3.org", "localhost", "allurereport.org", "trace.playwright.dev"})
"""Hosts the report's own HTML/JS names without contacting them: XML namespace
identifiers, a fallback base URL, the "powered by" footer link (opens only on a click),
and Playwright's trace viewer (opened only when a user views a Playwright trace)."""

_CODE_SUFFIXES = frozenset({".html", ".htm", ".js", ".mjs", ".css"})
_URL_HOST = re.compile(r"https?://(localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)", re.IGNORECASE)
_ANALYTICS_SCRIPT_TAG = re.compile(
    r"[ \t]*<script\b[^>]*\bsrc=[\"']https?://www\.googletagmanager\.com/[^\"']*[\"'][^>]*>"
    r"\s*</script>[ \t]*\n?",
    re.IGNORECASE,
)
_ANALYTICS_INLINE_SCRIPT = re.compile(
    r"[ \t]*<script\b[^>]*>(?:(?!</script>).)*?\b(?:gtag|dataLayer)\b(?:(?!</script>).)*</script>[ \t]*\n?",
    re.IGNORECASE | re.DOTALL,
)


class AllureUnavailable(RuntimeError):
    """Allure (or the npm/node it needs) is missing; the message says how to get it."""


class AllureReportError(RuntimeError):
    """The report could not be built or read; the message carries allure's output."""


def allure_executable(project_root: Path = PROJECT_ROOT) -> Path:
    return project_root / "node_modules" / ".bin" / "allure"


def ensure_allure(project_root: Path = PROJECT_ROOT) -> Path:
    """The pinned Allure CLI, installed with `npm ci` from package-lock.json if missing."""
    executable = allure_executable(project_root)
    if executable.exists():
        return executable
    if not (project_root / "package-lock.json").is_file():
        raise AllureUnavailable(f"{project_root} has no package-lock.json to install Allure from")
    npm = shutil.which("npm")
    if npm is None:
        raise AllureUnavailable(
            "npm was not found on PATH: the readiness report is built with Allure 3 from npm "
            "(install Node.js 20+ with npm, e.g. apt-get install nodejs npm, then run "
            f"`{' '.join(NPM_CI)}` in {project_root})"
        )
    with _install_lock(project_root):
        if executable.exists():  # another process installed it while we waited
            return executable
        result = subprocess.run(
            [npm, *NPM_CI[1:]],
            cwd=project_root,
            capture_output=True,
            text=True,
            check=False,
            timeout=INSTALL_TIMEOUT_S,
        )
    if result.returncode != 0 or not executable.exists():
        raise AllureUnavailable(
            f"`{' '.join(NPM_CI)}` in {project_root} failed (exit {result.returncode}):\n"
            f"{_tail(result.stderr or result.stdout)}"
        )
    return executable


def build_report(
    results_dir: Path,
    output_dir: Path,
    history_file: Path | None,
    *,
    project_root: Path = PROJECT_ROOT,
    name: str = DEFAULT_NAME,
) -> Path:
    """Generate the HTML report from `results_dir` into `output_dir` and return it.

    With `history_file`, the runs recorded there appear in the report and this run is
    appended to it (pass the same file every time; CI keeps it between runs). Without
    it the report has no history. `output_dir` is replaced if it holds an earlier
    report; any other non-empty directory is refused.
    """
    results_dir = results_dir.resolve()
    output_dir = output_dir.resolve()
    if not any(results_dir.glob("*-result.json")):
        raise AllureReportError(
            f"no Allure results in {results_dir}: run pytest with --alluredir {results_dir} first"
        )
    config = project_root / CONFIG_NAME
    if not config.is_file():
        raise AllureReportError(f"no Allure configuration at {config}")
    executable = ensure_allure(project_root)
    if shutil.which("node") is None:
        raise AllureUnavailable("node was not found on PATH: Allure 3 runs on Node.js 20+")
    _clear_previous_report(output_dir)
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true", "NO_COLOR": "1", "FORCE_COLOR": "0"}
    env.pop(HISTORY_ENV, None)
    env[NAME_ENV] = name
    if history_file is not None:
        history_file = history_file.resolve()
        history_file.parent.mkdir(parents=True, exist_ok=True)
        env[HISTORY_ENV] = str(history_file)
    command = [
        str(executable),
        "generate",
        "--config",
        str(config),
        "--output",
        str(output_dir),
        str(results_dir),
    ]
    result = subprocess.run(
        command,
        cwd=project_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=GENERATE_TIMEOUT_S,
    )
    if result.returncode != 0 or not (output_dir / "index.html").is_file():
        raise AllureReportError(
            f"allure generate failed (exit {result.returncode}):\n{_tail(result.stderr + result.stdout)}"
        )
    strip_analytics(output_dir)
    leaks = [f"{path}: {what}" for path, what in external_references(output_dir)]
    if leaks:
        raise AllureReportError("the report still refers to outside hosts:\n" + "\n".join(leaks))
    return output_dir


def strip_analytics(report_dir: Path) -> list[Path]:
    """Remove the analytics script tags from every HTML file; return the files changed."""
    changed = []
    for path in sorted(report_dir.rglob("*.htm*")):
        html = path.read_text(encoding="utf-8")
        cleaned = _ANALYTICS_INLINE_SCRIPT.sub("", _ANALYTICS_SCRIPT_TAG.sub("", html))
        if cleaned != html:
            path.write_text(cleaned, encoding="utf-8")
            changed.append(path)
    return changed


def external_references(report_dir: Path) -> list[tuple[Path, str]]:
    """What in the report could reach outside: an analytics marker in any file, or a
    host outside INERT_HOSTS in the report's HTML, JavaScript or CSS. Test data (JSON)
    is only checked for analytics markers: step names may mention any URL."""
    found: list[tuple[Path, str]] = []
    for path in _files(report_dir):
        text = path.read_text(encoding="utf-8", errors="replace")
        lowered = text.lower()
        found.extend((path, marker) for marker in ANALYTICS_MARKERS if marker in lowered)
        if path.suffix.lower() in _CODE_SUFFIXES:
            hosts = {match.lower() for match in _URL_HOST.findall(text)}
            found.extend((path, f"https://{host}") for host in sorted(hosts - INERT_HOSTS))
    return found


def report_data(output_dir: Path) -> list[dict[str, Any]]:
    """Every test case in a generated report, read from the awesome plugin's
    data/test-results: id, name, fullName, status, labels (a list of {"name", "value"})
    and history (the statuses of the same test in the earlier runs the report shows)."""
    data_dir = _test_results_dir(output_dir)
    cases = []
    for path in sorted(data_dir.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        cases.append(
            {
                "id": document.get("id"),
                "name": document.get("name"),
                "fullName": document.get("fullName"),
                "status": document.get("status"),
                "labels": [
                    {"name": label.get("name"), "value": label.get("value")}
                    for label in document.get("labels", [])
                ],
                "history": [run.get("status") for run in document.get("history", [])],
            }
        )
    return sorted(cases, key=lambda case: (str(case["fullName"]), str(case["id"])))


def history_entries(history_file: Path) -> list[dict[str, Any]]:
    """The runs recorded in an Allure 3 history file (JSONL, oldest first)."""
    if not history_file.is_file():
        return []
    lines = history_file.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _test_results_dir(output_dir: Path) -> Path:
    # awesome writes to the output root when it is the only report plugin, and to
    # <output>/awesome/ when several report plugins are configured.
    for candidate in (output_dir / "data" / "test-results", output_dir / "awesome" / "data" / "test-results"):
        if candidate.is_dir():
            return candidate
    raise AllureReportError(f"{output_dir} holds no Allure awesome report data (data/test-results)")


def _files(root: Path) -> Iterator[Path]:
    return (path for path in sorted(root.rglob("*")) if path.is_file())


def _clear_previous_report(output_dir: Path) -> None:
    if not output_dir.exists():
        return
    if not output_dir.is_dir():
        raise AllureReportError(f"report output {output_dir} exists and is not a directory")
    if any(output_dir.iterdir()):
        looks_like_report = (output_dir / "index.html").is_file() and (
            (output_dir / "data").is_dir() or (output_dir / "awesome").is_dir()
        )
        if not looks_like_report:
            raise AllureReportError(
                f"report output {output_dir} is not empty and holds no earlier report; refusing to replace it"
            )
        shutil.rmtree(output_dir)


@contextmanager
def _install_lock(project_root: Path) -> Iterator[None]:
    """One `npm ci` at a time per checkout (parallel test workers share node_modules)."""
    digest = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"readiness-allure-install-{digest}.lock"
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
