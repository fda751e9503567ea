"""The server's TLS certificate: the operator's, or one virtdeck makes once and keeps.

A server that listens beyond loopback speaks only TLS. Without a certificate
given, it makes a self-signed one on first start under the data dir (key
mode 0600) and prints its SHA-256 fingerprint, which a client checks once
(``virtdeck login`` pins it), as Incus does with its own.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from virtdeck.errors import InvalidInput

# Ten years: a self-signed certificate is pinned by fingerprint, not trusted by expiry.
SELF_SIGNED_DAYS = 3650


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    made_now: bool = False


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate's DER, as colon-separated hex pairs."""
    from cryptography import x509  # noqa: PLC0415 - only a TLS server needs it
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    digest = hashlib.sha256(der).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def self_signed(directory: Path, host: str) -> TlsFiles:
    """The certificate in ``directory``, made on first use for ``host`` and this machine."""
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    if cert_path.exists() and key_path.exists():
        return TlsFiles(cert_path, key_path)
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    names: list[x509.GeneralName] = [x509.DNSName(socket.gethostname()), x509.DNSName("localhost")]
    for address in {host, "127.0.0.1", "::1"}:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"virtdeck@{socket.gethostname()}")]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(cert_path, key_path, made_now=True)


def given(cert: Path | None, key: Path | None) -> TlsFiles | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise InvalidInput("a TLS certificate needs its key and a key its certificate; give both")
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise InvalidInput(f"the TLS {what} {path} is not a readable file; give another")
    return TlsFiles(cert, key)
