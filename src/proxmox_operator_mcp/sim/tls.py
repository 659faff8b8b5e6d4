"""TLS material shaped like a PVE node's: a "Proxmox Virtual Environment" CA and a leaf for
127.0.0.1 / localhost signed by it (``pve-root-ca.pem`` and ``pve-ssl.pem`` on a real node).

Keys are generated once per process (RSA generation is the slow part) and written per run.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsFiles", "write_tls"]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one run and the leaf's SHA-256 fingerprint.

    Attributes:
        ca_file: the CA certificate (``pve-root-ca.pem``), to verify the server with.
        cert_file: the leaf certificate (``pve-ssl.pem``).
        key_file: the leaf's private key (``pve-ssl.key``).
        fingerprint: SHA-256 of the leaf (DER), 64 lowercase hex digits.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    fingerprint: str

    @property
    def fingerprint_colons(self) -> str:
        """The fingerprint as PVE shows it: ``AB:CD:...``."""
        fp = self.fingerprint.upper()
        return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


@lru_cache(maxsize=1)
def _material() -> tuple[bytes, bytes, bytes, str]:
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Proxmox Virtual Environment"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, str(uuid.uuid4())),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PVE Cluster Manager CA"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "PVE Cluster Node"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Proxmox Virtual Environment"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "pve1.localdomain"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=730))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                    x509.DNSName("localhost"),
                    x509.DNSName("pve1"),
                    x509.DNSName("pve1.localdomain"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    fingerprint = leaf.fingerprint(hashes.SHA256()).hex()
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem, fingerprint


def write_tls(directory: Path) -> TlsFiles:
    """Write ``pve-root-ca.pem``, ``pve-ssl.pem`` and ``pve-ssl.key`` into ``directory``."""
    ca_pem, cert_pem, key_pem, fingerprint = _material()
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = directory / "pve-root-ca.pem", directory / "pve-ssl.pem", directory / "pve-ssl.key"
    ca_file.write_bytes(ca_pem)
    cert_file.write_bytes(cert_pem)
    key_file.touch(mode=0o600)
    key_file.write_bytes(key_pem)
    return TlsFiles(ca_file, cert_file, key_file, fingerprint)
