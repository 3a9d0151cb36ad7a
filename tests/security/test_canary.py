"""The canary runs: no secret reaches anything the harness prints, writes or publishes
(issue 10, finding 1).

Known, random, distinctive secret values (canaries) go in through the environment, as a
user's would; lines fail on purpose, with `--showlocals`; then every byte the harness
produced is searched for every canary in every form a leak would carry it in (raw,
JSON-escaped, percent-encoded, base64, hex, a `whsec_` secret's key and its bytes in
hex, PayPal's base64 `client_id:client_secret`):

- `readiness serve`, the target, with one set of secrets; its embedded PostgreSQL and
  Redis passwords (generated, read from its 0600 secrets file) are canaries too;
- `readiness check` of the whole checklist against it with a second set, so every
  webhook and admin line fails on its secrets (the target refuses them);
- `readiness check` of a checklist that leaks on purpose: steps that put every secret
  and the database and Redis URLs into assertions, printed output, logs, evidence, an
  Allure attachment, exception messages and a "not measured" reason;
- `readiness report` on each run's results (the HTML report CI publishes).

Searched: the stdout and stderr of each command, the readiness.json and summary, the
drill reports, allure-results and the HTML report.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_bytes, token_hex, token_urlsafe
from urllib.parse import quote, unquote, urlsplit

import pytest

READINESS = str(Path(sys.executable).with_name("readiness"))
SECRET_NAMES = ("PAYMENTS_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET", "ADMIN_TOKEN", "PAYPAL_CLIENT_SECRET")
CHECK_TIMEOUT_S = 600
PIECE = 10


def secret_set(label: str) -> dict[str, str]:
    """A full set of the target's secrets (and PayPal identifiers), each unmistakable."""
    return {
        "PAYMENTS_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"canary" + token_bytes(21)).decode(),
        "STRIPE_WEBHOOK_SECRET": f"whsec_canary{label}stripe{token_hex(12)}",
        "ADMIN_TOKEN": f"canary-{label}-admin-{token_urlsafe(18)}",
        "PAYPAL_CLIENT_SECRET": f"canary-{label}-paypal-{token_hex(12)}",
        "PAYPAL_CLIENT_ID": f"client-{label}-{token_hex(4)}",
        "PAYPAL_WEBHOOK_ID": f"WH-{label.upper()}-{token_hex(4).upper()}",
    }


def leak_forms(value: str) -> dict[str, str]:
    """The forms of `value` a leak would carry (written out here, not taken from the
    harness, so the test does not check the scrubber against itself)."""
    forms = {
        "raw": value,
        "json": json.dumps(value)[1:-1],
        "percent-encoded": quote(value, safe=""),
        "base64": base64.b64encode(value.encode()).decode().rstrip("="),
        "hex": value.encode().hex(),
    }
    if value.startswith("whsec_"):
        key = value.removeprefix("whsec_")
        forms["whsec key"] = key
        with contextlib.suppress(ValueError):  # a Stripe secret's key is not base64
            forms["whsec key bytes in hex"] = base64.b64decode(key, validate=True).hex()
    return forms


@dataclass
class Canaries:
    """Every canary of a run, by a label saying where it came from."""

    values: dict[str, str] = field(default_factory=dict)

    def add_set(self, label: str, secrets: Mapping[str, str]) -> None:
        for name in SECRET_NAMES:
            self.values[f"{label} {name}"] = secrets[name]
        basic = base64.b64encode(f"{secrets['PAYPAL_CLIENT_ID']}:{secrets['PAYPAL_CLIENT_SECRET']}".encode())
        self.values[f"{label} PayPal Basic credentials"] = basic.decode()

    def patterns(self) -> dict[bytes, str]:
        found: dict[bytes, str] = {}
        for label, value in self.values.items():
            # "raw" comes first: a form that equals it is reported as raw
            for kind, form in leak_forms(value).items():
                found.setdefault(form.encode(), f"{label} ({kind})")
            # A shortened repr ('canary-sec...ret-tail') shows pieces: any 10 characters of the
            # random tail (every canary ends in at least 24 random characters) are a leak.
            tail = value[-24:]
            for at in range(len(tail) - PIECE + 1):
                found.setdefault(tail[at : at + PIECE].encode(), f"{label} (a piece)")
        return found

    def leaks(self, sources: Mapping[str, bytes]) -> list[str]:
        """Where a canary appears: 'source: which canary (form): context'."""
        found = []
        patterns = self.patterns()
        for source, data in sources.items():
            for pattern, what in patterns.items():
                at = data.find(pattern)
                if at >= 0:
                    context = data[max(0, at - 80) : at].decode(errors="replace")
                    found.append(f"{source}: {what} after {context!r}")
        return found


def files_below(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder.parent)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def clean_environment(**values: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in (*SECRET_NAMES, "PAYPAL_CLIENT_ID", "PAYPAL_WEBHOOK_ID", "PAYPAL_API_BASE")
        and not name.startswith(("READINESS_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(values)
    return env


@dataclass
class Served:
    """`readiness serve` running with its own secrets."""

    url: str
    secrets: dict[str, str]
    urls: dict[str, str]
    """DATABASE_URL and REDIS_URL from serve's 0600 file (their passwords generated)."""
    output: dict[str, bytes] = field(default_factory=dict)


@pytest.fixture(scope="module")
def canaries() -> Canaries:
    return Canaries()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, canaries: Canaries) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("serve")
    secrets = secret_set("serve")
    canaries.add_set("serve's", secrets)
    env_file = folder / "serve.env"
    with subprocess.Popen(
        [READINESS, "serve", "--env-file", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_environment(**secrets),
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        printed = []
        for line in process.stdout:
            printed.append(line)
            if line.startswith(b"ready"):
                break
        else:
            pytest.fail(f"readiness serve did not start: {process.stderr.read().decode(errors='replace')}")
        shown = dict(line.decode().strip().partition("=")[::2] for line in printed if b"=" in line)
        written = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        urls = {name: written[name] for name in ("DATABASE_URL", "REDIS_URL")}
        for name, url in urls.items():
            password = urlsplit(url).password
            assert password, f"{name} of the embedded server carries its generated password"
            canaries.values[f"serve's {name} password"] = unquote(password)
        served = Served(shown["SERVICE_URL"].split()[0], secrets, urls, {"serve stdout": b"".join(printed)})
        try:
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            rest, errors = process.communicate(timeout=60)
    # What serve printed while stopping: an error of the module's last test if it leaked.
    leaks = canaries.leaks({"serve stdout": b"".join(printed) + rest, "serve stderr": errors})
    assert not leaks, "\n".join(leaks)


@dataclass(frozen=True)
class Run:
    """A `readiness check` and `readiness report`, and everything they left."""

    check: subprocess.CompletedProcess[bytes]
    report: subprocess.CompletedProcess[bytes]
    output: Path

    @property
    def readiness(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.output / "readiness.json").read_text())
        return data

    def everything(self) -> dict[str, bytes]:
        return {
            "check stdout": self.check.stdout,
            "check stderr": self.check.stderr,
            "report stdout": self.report.stdout,
            "report stderr": self.report.stderr,
            **files_below(self.output),
        }


def check_and_report(folder: Path, env: Mapping[str, str], *arguments: str) -> Run:
    output = folder / "out"
    check = subprocess.run(
        [
            READINESS, "check", "--output", str(output), "--reports-dir", str(output / "reports"),
            *arguments,
        ],
        capture_output=True, env=dict(env), timeout=CHECK_TIMEOUT_S, check=False,
    )  # fmt: skip
    report = subprocess.run(
        [
            READINESS, "report", "--results", str(output / "allure-results"),
            "--output", str(output / "allure-report"), "--history", "",
        ],
        capture_output=True, env=dict(env), timeout=CHECK_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr.decode(errors="replace")
    assert (output / "allure-report" / "index.html").exists()
    return Run(check, report, output)


def _failed_messages(run: Run) -> list[str]:
    lines: list[dict[str, object]] = run.readiness["lines"]  # type: ignore[assignment]
    return [str(message) for line in lines if line["state"] == "failed" for message in line["messages"]]  # type: ignore[attr-defined]


def test_the_scanner_finds_every_form_of_a_canary() -> None:
    """The search below can fail: a planted canary is found in each of its forms."""
    canaries = Canaries()
    secrets = secret_set("probe")
    canaries.add_set("probe", secrets)
    value = secrets["PAYMENTS_WEBHOOK_SECRET"]
    for kind, form in leak_forms(value).items():
        assert canaries.leaks({"planted": f"..{form}..".encode()}), kind
    basic = base64.b64encode(f"{secrets['PAYPAL_CLIENT_ID']}:{secrets['PAYPAL_CLIENT_SECRET']}".encode())
    assert canaries.leaks({"header": b"Authorization: Basic " + basic})
    admin = secrets["ADMIN_TOKEN"]
    assert canaries.leaks({"cut repr": f"assert '{admin[:12]}...{admin[-12:]}' == 'x'".encode()})
    assert not canaries.leaks({"clean": b"Secret('***') postgresql://postgres:***@127.0.0.1/readiness"})


def test_a_whole_checklist_run_on_a_target_whose_secrets_differ_leaks_none(
    served: Served, canaries: Canaries, tmp_path: Path
) -> None:
    secrets = secret_set("check")
    canaries.add_set("check's", secrets)
    run = check_and_report(
        tmp_path, clean_environment(**secrets), "--target-url", served.url, "--", "--showlocals"
    )

    assert run.check.returncode == 1, run.check.stderr.decode(errors="replace")[-2000:]
    failures = _failed_messages(run)
    assert any("signature rejected" in message for message in failures), "the lines failed on their secrets"
    assert any("admin bearer token required" in message for message in failures)
    shown_locals = re.findall(rb"\n[a-z_]+ +=", run.check.stdout)
    assert len(shown_locals) > 10, "--showlocals printed the failing steps' locals"
    leaks = canaries.leaks({**run.everything(), **served.output})
    assert not leaks, "\n".join(leaks)


LEAKY_FEATURE = """\
@leaks
Feature: Steps that leak every secret on purpose
  @leak_assertion
  Scenario: An assertion compares the admin token
    Given the target's secrets
    Then an assertion compares the admin token

  @leak_output
  Scenario: The webhook secrets are printed and logged
    Given the target's secrets
    Then the webhook secrets are printed and logged

  @leak_evidence
  Scenario: Evidence and an attachment carry the database and Redis URLs
    Given the target's secrets
    Then the evidence and an attachment carry the connection URLs

  @leak_encoded
  Scenario: Encoded forms of the secrets appear in an error
    Given the target's secrets
    Then an error carries the encoded secrets

  @leak_not_measured
  Scenario: A line not measured names the PayPal secret
    Given the target's secrets
    Then the line is not measured, naming the PayPal secret
"""

LEAKY_STEPS = """\
import base64
import logging
import sys

import allure
from pytest_bdd import given, then

from readiness_harness.checklist.outcomes import not_measured

logger = logging.getLogger("toy.leaks")


@given("the target's secrets", target_fixture="leaky")
def _(readiness_target):
    secrets = readiness_target.secrets
    return {
        "admin": secrets.admin_token.reveal(),
        "standard": secrets.payments_webhook_secret.reveal(),
        "stripe": secrets.stripe_webhook_secret.reveal(),
        "paypal": secrets.paypal_client_secret.reveal(),
        "paypal_id": secrets.paypal_client_id,
        "database": readiness_target.database_url,
        "redis": readiness_target.redis_url,
    }


@then("an assertion compares the admin token")
def _(leaky):
    token = leaky["admin"]
    assert token == "the token the target expects"


@then("the webhook secrets are printed and logged")
def _(leaky):
    print("signing with", leaky["standard"])
    print("and with", leaky["stripe"], file=sys.stderr)
    logger.error("PayPal client secret %s, admin token %s", leaky["paypal"], leaky["admin"])
    raise AssertionError("see the captured output")


@then("the evidence and an attachment carry the connection URLs")
def _(leaky, record_evidence):
    record_evidence("connection", {"database": leaky["database"], "redis": leaky["redis"]})
    allure.attach(leaky["database"] + "\\n" + leaky["redis"], name="connection")
    raise RuntimeError(f"could not use {leaky['database']} or {leaky['redis']}")


@then("an error carries the encoded secrets")
def _(leaky):
    key = base64.b64decode(leaky["standard"].removeprefix("whsec_"))
    basic = base64.b64encode(f"{leaky['paypal_id']}:{leaky['paypal']}".encode()).decode()
    admin = base64.b64encode(leaky["admin"].encode()).decode()
    raise ValueError(f"key bytes {key.hex()}, Authorization: Basic {basic}, token {admin}")


@then("the line is not measured, naming the PayPal secret")
def _(leaky):
    not_measured(f"PayPal refused the client secret {leaky['paypal']}")
"""


def test_steps_that_leak_every_secret_on_purpose_leak_none(
    served: Served, canaries: Canaries, tmp_path: Path
) -> None:
    """The embedded service on serve's PostgreSQL and Redis (their URLs carry known
    passwords), and steps that put every secret where a careless step would."""
    secrets = secret_set("leaky")
    canaries.add_set("leaky run's", secrets)
    features = tmp_path / "leaky"
    features.mkdir()
    (features / "leaks.feature").write_text(LEAKY_FEATURE)
    (features / "conftest.py").write_text(LEAKY_STEPS)
    env = clean_environment(**secrets, **served.urls)
    run = check_and_report(tmp_path, env, "--features", str(features), "--", "--showlocals", "-rA")

    assert run.check.returncode == 1, run.check.stderr.decode(errors="replace")[-2000:]
    lines: list[dict[str, object]] = run.readiness["lines"]  # type: ignore[assignment]
    states = {str(line["scenario"]): line["state"] for line in lines}
    assert list(states.values()).count("failed") == 4 and list(states.values()).count("not measured") == 1, (
        states
    )
    everything = run.everything()
    leaks = canaries.leaks({**everything, **served.output})
    assert not leaks, "\n".join(leaks)
    assert re.search(rb"token\s+= '\*\*\*'", run.check.stdout), "--showlocals printed the local, redacted"
    assert b"postgresql://postgres:***@127.0.0.1" in everything["out/readiness.json"], (
        "the evidence, redacted"
    )
    attachments = [data for name, data in everything.items() if "-attachment" in name and "results" in name]
    assert any(data.startswith(b"postgresql://postgres:***@") for data in attachments), (
        "the attachment, redacted"
    )
