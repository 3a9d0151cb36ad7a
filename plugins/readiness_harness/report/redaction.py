"""The console's last line of defence: nothing pytest prints or logs carries a secret.

Secrets cannot print themselves (`settings.secrets.Secret`), the reports are scrubbed
where they are written, and failures are scrubbed when their report is made. This
plugin (loaded by `readiness_harness.plugin`) also puts `scrub()` between pytest and
the terminal and between the logging module and pytest's log handlers, so whatever
else reaches them (a warning, a collection error, a live log line, the log file) is
scrubbed too.

It reaches one private attribute, the terminal writer's `_file` (pytest has no public
way to filter what its terminal writes); `tests/security` fails if the guard stops
taking effect.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

import pytest

from readiness_harness.settings.secrets import ScrubbingFilter, guard_stream, scrub

_LOG_HANDLERS = ("caplog_handler", "report_handler", "log_cli_handler", "log_file_handler")


def guard_terminal(config: pytest.Config) -> bool:
    """Scrub everything pytest's terminal reporter writes; False when there is none."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    writer = getattr(reporter, "_tw", None)
    if writer is None or not hasattr(writer, "_file"):
        return False
    writer._file = guard_stream(writer._file)
    return True


def guard_logging(config: pytest.Config) -> list[logging.Handler]:
    """Scrub every record reaching pytest's log handlers (captured logs, log_cli, log_file)."""
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    guarded = []
    for name in _LOG_HANDLERS:
        handler = getattr(plugin, name, None)
        if not isinstance(handler, logging.Handler):
            continue
        if not any(isinstance(existing, ScrubbingFilter) for existing in handler.filters):
            handler.addFilter(ScrubbingFilter())
        guarded.append(handler)
    return guarded


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter prints the session header
def pytest_sessionstart(session: pytest.Session) -> None:
    guard_terminal(session.config)
    guard_logging(session.config)


def scrub_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    """A test or collection report with its failure text, skip reason and captured
    sections scrubbed (what the terminal, -ra, --showlocals and Allure's trace show)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = longrepr
        report.longrepr = (path, line, scrub(reason))
    elif longrepr is not None:
        text = str(longrepr)
        cleaned = scrub(text)
        if cleaned != text:
            report.longrepr = cleaned
    report.sections = [(title, scrub(content)) for title, content in report.sections]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """No secret reaches the console or a report: failures and captured output are scrubbed
    (before allure-pytest-bdd, whose wrapper is outside this one, reads the trace)."""
    report = yield
    scrub_report(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    scrub_report(report)
    return report
