"""The TLS check against a local HTTPS server whose certificate each test makes."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from readiness_harness.target.tls import (
    LocalCertificate,
    TLSCheckError,
    inspect_certificate,
    make_local_certificate,
)


@contextmanager
def https_server(certificate: LocalCertificate) -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_trusted_certificate_reports_its_days_left(tmp_path: Path) -> None:
    certificate = make_local_certificate(tmp_path, days=30)
    with https_server(certificate) as url:
        info = inspect_certificate(url, certificate.ca_file)
    assert info.host == "127.0.0.1"
    assert 29 < info.days_left() <= 30
    assert "readiness harness local CA" in info.issuer


def test_a_certificate_close_to_expiry_shows_fewer_than_14_days(tmp_path: Path) -> None:
    certificate = make_local_certificate(tmp_path, days=10)
    with https_server(certificate) as url:
        info = inspect_certificate(url, certificate.ca_file)
    assert info.days_left() < 14


def test_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    certificate = make_local_certificate(tmp_path, days=1, not_before=datetime.now(UTC) - timedelta(days=5))
    with https_server(certificate) as url, pytest.raises(TLSCheckError, match="expired"):
        inspect_certificate(url, certificate.ca_file)


def test_a_self_signed_certificate_nobody_trusts_is_refused(tmp_path: Path) -> None:
    certificate = make_local_certificate(tmp_path, days=30)
    with https_server(certificate) as url, pytest.raises(TLSCheckError, match="not trusted"):
        inspect_certificate(url)  # the system trust store does not know the harness's CA


def test_a_plain_http_url_is_not_inspected() -> None:
    with pytest.raises(TLSCheckError, match="not an https URL"):
        inspect_certificate("http://127.0.0.1:1")


def test_a_certificate_for_another_host_name_is_refused(tmp_path: Path) -> None:
    certificate = make_local_certificate(tmp_path, days=30, names=("payments.example.test",))
    with https_server(certificate) as url, pytest.raises(TLSCheckError, match="not valid for the host name"):
        inspect_certificate(url, certificate.ca_file)
