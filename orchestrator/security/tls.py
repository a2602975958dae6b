"""TLS for the control plane: a CA and a server certificate made at first start, and the CA's
fingerprint that join tokens carry so an agent can pin it without a copied file.

`ensure_certificates` writes `tls/ca.pem`, `tls/ca.key`, `tls/server.pem` and `tls/server.key`
(keys 0600) into the data dir once; later starts reuse them. The server certificate names
loopback, this host's names and addresses and the listen address. `pinned_join_token` is the join
token with `@sha256:<hex>` appended: the agent splits it off, fetches the CA from `/v1/agent/ca`
and trusts it only if its SHA-256 matches, so a man in the middle cannot hand it another CA.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
PIN_SEPARATOR = "@sha256:"
CERT_DAYS = 3650


@dataclass(frozen=True)
class Certificates:
    cert: Path
    key: Path
    ca: Path | None = None  # ours when generated; a certificate given with --tls-cert has none to pin

    def fingerprint(self) -> str | None:
        return fingerprint(self.ca.read_text()) if self.ca else None


def fingerprint(pem: str) -> str:
    """The SHA-256 of a certificate's DER encoding, in hex (what `openssl x509 -fingerprint -sha256` shows)."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def split_pin(join_token: str) -> tuple[str, str | None]:
    """`ojt_...@sha256:abcd` -> (`ojt_...`, `abcd`); a token without a pin -> (token, None)."""
    token, sep, pin = join_token.partition(PIN_SEPARATOR)
    return (token, pin.lower()) if sep else (join_token, None)


def pinned_join_token(token: str, certificates: Certificates | None) -> str:
    pin = certificates.fingerprint() if certificates else None
    return f"{token}{PIN_SEPARATOR}{pin}" if pin else token


def _names(listen_host: str) -> list[x509.GeneralName]:
    dns = {"localhost", socket.gethostname(), socket.getfqdn()}
    ips = {"127.0.0.1", "::1"}
    with contextlib.suppress(OSError):
        ips |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    if listen_host and listen_host not in ("0.0.0.0", "::"):
        try:
            ipaddress.ip_address(listen_host)
            ips.add(listen_host)
        except ValueError:
            dns.add(listen_host)
    out: list[x509.GeneralName] = [x509.DNSName(d) for d in sorted(dns) if d]
    out += [x509.IPAddress(ipaddress.ip_address(ip.split("%")[0])) for ip in sorted(ips)]
    return out


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def ensure_certificates(data_dir: Path, listen_host: str) -> Certificates:
    """The data dir's CA and server certificate, made now if this is the first start with TLS."""
    tls = data_dir / TLS_DIR
    found = Certificates(tls / "server.pem", tls / "server.key", tls / "ca.pem")
    assert found.ca is not None
    if found.ca.exists() and found.cert.exists() and found.key.exists():
        return found
    tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"orchestrator CA {socket.gethostname()}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orchestrator control plane")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(listen_host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    no_password = serialization.NoEncryption()
    pkcs8 = serialization.PrivateFormat.PKCS8
    _write_private(tls / "ca.key", ca_key.private_bytes(pem, pkcs8, no_password))
    _write_private(found.key, key.private_bytes(pem, pkcs8, no_password))
    _write_private(found.ca, ca.public_bytes(pem))
    # The server presents its certificate and the CA, so a client that pinned the CA can verify it.
    _write_private(found.cert, cert.public_bytes(pem) + ca.public_bytes(pem))
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
