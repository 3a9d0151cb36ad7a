"""Secrets that cannot print themselves, and the scrubbing behind every writer (issue 10, finding 1)."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import quote

import pytest

from readiness_harness.settings.secrets import (
    REDACTED,
    ScrubbingFilter,
    Secret,
    basic_auth,
    guard_stream,
    leak_forms,
    load_secrets,
    redact_url,
    remember_environment,
    scrub,
    scrub_bytes,
    scrub_file,
    scrub_tree,
)


def canary(label: str) -> str:
    return f"canary-{label}-{secrets.token_hex(12)}"


def test_a_secret_never_prints_itself() -> None:
    value = canary("print")
    secret = Secret(value)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>40}", repr([secret])):
        assert value not in shown
    assert secret.reveal() == value
    with pytest.raises(TypeError, match="not pickled"):
        secret.__reduce__()


def test_scrub_replaces_every_leak_form_of_a_known_secret() -> None:
    key = secrets.token_bytes(24)
    value = "whsec_" + base64.b64encode(key).decode()
    Secret(value)
    forms = {
        "raw": value,
        "json": json.dumps({"secret": value}),
        "percent": quote(value, safe=""),
        "base64": base64.b64encode(value.encode()).decode(),
        "hex": value.encode().hex(),
        "whsec key": value.removeprefix("whsec_"),
        "key bytes in hex": key.hex(),
    }
    for name, text in forms.items():
        cleaned = scrub(f"before {text} after")
        assert REDACTED in cleaned, name
        assert value.removeprefix("whsec_") not in cleaned and key.hex() not in cleaned, name
    assert leak_forms(value) >= {value, value.removeprefix("whsec_"), key.hex()}


def test_paypal_basic_credentials_are_remembered_with_the_secrets() -> None:
    client_secret = canary("paypal")
    loaded = load_secrets({"PAYPAL_CLIENT_ID": "client-abc", "PAYPAL_CLIENT_SECRET": client_secret})
    header = f"Authorization: Basic {basic_auth('client-abc', client_secret)}"
    assert scrub(header) == f"Authorization: Basic {REDACTED}"
    assert loaded.given("PAYPAL_CLIENT_SECRET") and not loaded.given("ADMIN_TOKEN")


def test_redact_url_hides_passwords_and_tokens_and_remembers_them() -> None:
    password, token = canary("pw"), canary("token")
    url = f"postgresql://app:{password}@db.example:5432/app?sslmode=require&api_token={token}"
    shown = redact_url(url)
    assert password not in shown and token not in shown
    assert "app:***@db.example:5432/app" in shown and "sslmode=require" in shown
    assert (
        scrub(f"error connecting with {password} and {token}")
        == f"error connecting with {REDACTED} and {REDACTED}"
    )


def test_remember_environment_covers_secret_variables_and_url_passwords() -> None:
    admin, db_password = canary("admin"), canary("db")
    remember_environment({"ADMIN_TOKEN": admin, "DATABASE_URL": f"postgresql://u:{db_password}@h/d"})
    assert scrub(f"{admin} {db_password}") == f"{REDACTED} {REDACTED}"


def test_short_values_are_not_scrubbed_from_ordinary_text() -> None:
    Secret("abc")
    assert scrub("abc abcdef") == "abc abcdef"


def test_scrub_file_and_tree_rewrite_text_and_binary_files_but_never_follow_symlinks(tmp_path: Path) -> None:
    value = canary("file")
    Secret(value)
    results = tmp_path / "results"
    (results / "nested").mkdir(parents=True)
    text_file = results / "a-result.json"
    text_file.write_text(json.dumps({"statusDetails": {"message": f"assert {value!r} == 'x'"}}))
    text_file.chmod(0o640)
    binary_file = results / "nested" / "shot.png"
    binary_file.write_bytes(b"\x89PNG\x00" + value.encode() + b"\xff")
    outside = tmp_path / "outside.txt"
    outside.write_text(value)
    (results / "link.txt").symlink_to(outside)

    changed = scrub_tree(results)

    assert sorted(changed) == sorted([text_file, binary_file])
    assert value not in text_file.read_text() and json.loads(text_file.read_text())
    assert text_file.stat().st_mode & 0o777 == 0o640, "the mode is kept"
    assert binary_file.read_bytes() == b"\x89PNG\x00" + REDACTED.encode() + b"\xff"
    assert outside.read_text() == value, "a symlink's target outside the folder is not touched"
    assert not scrub_file(results / "missing.json")
    assert scrub_bytes(value.encode()) == REDACTED.encode()


def test_a_scrubbing_stream_scrubs_what_is_written_and_delegates_the_rest() -> None:
    value = canary("stream")
    Secret(value)
    target = io.StringIO()
    stream = guard_stream(target)
    assert guard_stream(stream) is stream, "wrapped once"
    stream.write(f"token={value}\n")
    stream.writelines([value, "\n"])
    stream.flush()
    assert target.getvalue() == f"token={REDACTED}\n{REDACTED}\n"
    assert stream.getvalue() == target.getvalue(), "everything else is the wrapped stream's"


def test_the_logging_filter_scrubs_messages_arguments_and_tracebacks() -> None:
    value = canary("log")
    Secret(value)
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.addFilter(ScrubbingFilter())
    logger = logging.getLogger("readiness.test.scrubbing")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("connecting with %s", value)
        try:
            raise RuntimeError(f"bad secret {value}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert value not in output.getvalue()
    assert output.getvalue().count(REDACTED) >= 2 and "RuntimeError" in output.getvalue()


def test_write_env_file_is_private(tmp_path: Path) -> None:
    from readiness_harness.settings.secrets import write_env_file

    path = write_env_file(tmp_path / "sub" / "secrets.env", {"ADMIN_TOKEN": canary("env")})
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.stat(path).st_uid == os.geteuid()
