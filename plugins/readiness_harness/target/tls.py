"""TLS: read a target's certificate (chain and hostname verified) and make local ones.

`inspect_certificate` connects like a client would: the chain must verify against the
system trust store or the given CA bundle, and the name must match; it then reports how
long the certificate has left. `make_local_certificate` writes a throw-away CA and a
server certificate for 127.0.0.1/localhost, for the embedded default and for tests.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CONNECT_TIMEOUT_S = 10


class TLSCheckError(Exception):
    """The certificate could not be verified; the message says why and for which host."""


@dataclass(frozen=True)
class CertificateInfo:
    host: str
    subject: str
    issuer: str
    not_after: datetime

    def days_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(UTC))).total_seconds() / 86400


def inspect_certificate(url: str, ca_file: Path | None = None) -> CertificateInfo:
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise TLSCheckError(f"{url} is not an https URL")
    host, port = parsed.hostname, parsed.port or 443
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with (
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        if "mismatch" in str(exc.verify_message).lower():
            raise TLSCheckError(
                f"{host}:{port}: the certificate is not valid for the host name {host!r}: "
                f"{exc.verify_message}"
            ) from exc
        raise TLSCheckError(f"{host}:{port}: certificate not trusted: {exc.verify_message}") from exc
    except (ssl.SSLError, OSError) as exc:
        raise TLSCheckError(f"{host}:{port}: TLS connection failed: {exc}") from exc
    if der is None:
        raise TLSCheckError(f"{host}:{port}: the server sent no certificate")
    certificate = x509.load_der_x509_certificate(der)
    return CertificateInfo(
        host,
        certificate.subject.rfc4514_string(),
        certificate.issuer.rfc4514_string(),
        certificate.not_valid_after_utc,
    )


@dataclass(frozen=True)
class LocalCertificate:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _subject_name(name: str) -> x509.GeneralName:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_local_certificate(
    folder: Path,
    days: int = 30,
    not_before: datetime | None = None,
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
) -> LocalCertificate:
    """A CA and a server certificate for `names` (IP addresses or DNS names), valid for `days`."""
    folder.mkdir(parents=True, exist_ok=True)
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("readiness harness local CA"))
        .issuer_name(_name("readiness harness local CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days + 1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[-1]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([_subject_name(name) for name in names]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = LocalCertificate(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths.key_file.chmod(0o600)
    return paths
