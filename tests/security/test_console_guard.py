"""pytest's own output is scrubbed too: warnings, live and file logs, collection errors,
skip reasons, failures (the guard in `readiness_harness.report.redaction`).

Each run is a pytest subprocess with the plugin loaded (as every checklist run has it) and
a canary `ADMIN_TOKEN` in its environment, where the harness reads secrets from.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

LEAKY_TESTS = """\
import logging
import os
import warnings

import pytest

TOKEN = os.environ["ADMIN_TOKEN"]


def test_warns():
    warnings.warn(UserWarning(f"a warning naming {TOKEN}"))


def test_logs():
    logging.getLogger("leaky").warning("a log line naming %s", TOKEN)


def test_skips():
    pytest.skip(f"a skip naming {TOKEN}")


def test_fails():
    token = TOKEN
    assert token == "something else"
"""


def _canary() -> str:
    return f"canary-console-{secrets.token_hex(12)}"


def pieces_of(token: str, text: str, width: int = 8) -> list[str]:
    """Every `width`-character piece of the token's random tail that `text` shows."""
    tail = token[-24:]
    return [tail[at : at + width] for at in range(len(tail) - width + 1) if tail[at : at + width] in text]


def test_warnings_logs_skips_and_failures_are_scrubbed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = _canary()
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    monkeypatch.setenv("ADMIN_TOKEN", token)
    log_file = tmp_path / "run.log"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", "--showlocals", "-W", "default",
        "-o", "log_cli=true", "-o", "log_cli_level=WARNING", f"--log-file={log_file}",
    )  # fmt: skip
    result.assert_outcomes(passed=2, skipped=1, failed=1, warnings=1)
    output = result.stdout.str() + result.stderr.str()
    for shown in ("a warning naming ***", "a log line naming ***", "a skip naming ***", "token      = '***'"):
        assert shown in output, f"{shown!r} not in the output"
    # pytest shortens the compared string around `...`: neither piece of it may show.
    assert "AssertionError: assert '***...***' == 'something else'" in output
    assert not pieces_of(token, output)
    assert "a log line naming ***" in log_file.read_text()
    assert not pieces_of(token, log_file.read_text())


def test_a_collection_error_is_scrubbed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    token = _canary()
    pytester.makepyfile(
        test_broken="import os\nraise RuntimeError(f\"cannot import with {os.environ['ADMIN_TOKEN']}\")\n"
    )
    monkeypatch.setenv("ADMIN_TOKEN", token)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    output = result.stdout.str() + result.stderr.str()
    assert "cannot import with ***" in output
    assert not pieces_of(token, output)
