"""A throwaway certificate authority for the simulators and the benchmarks.

Real providers are reached over TLS, so the simulators are too: this makes a
CA, a server certificate for the loopback names, and (for APNs certificate
auth) client certificates whose subject UID is the app's bundle id, the way
Apple issues them (docs/protocols/apns.md §2.2).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class LocalCA:
    """A CA plus a loopback server certificate, all in memory."""

    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate
    server_cert_pem: bytes
    server_key_pem: bytes
    _files: list[Path] = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, hosts: Sequence[str] = DEFAULT_HOSTS) -> LocalCA:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pushgate simulator CA")])
        now = dt.datetime.now(dt.UTC)
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        server_key = ec.generate_private_key(ec.SECP256R1())
        alt_names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt_names.append(x509.DNSName(host))
        server_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        return cls(
            ca_key=ca_key,
            ca_cert=ca_cert,
            server_cert_pem=server_cert.public_bytes(serialization.Encoding.PEM),
            server_key_pem=_key_pem(server_key),
        )

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    def issue_client_cert(
        self, common_name: str, *, uid: str | None = None, days: int = 365
    ) -> tuple[bytes, bytes]:
        """A client certificate (PEM cert, PEM key); ``uid`` goes in the subject
        as APNs certificates carry the bundle id."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if uid is not None:
            attrs.insert(0, x509.NameAttribute(NameOID.USER_ID, uid))
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def write_ca(self, path: str | Path) -> Path:
        """Write the CA certificate (for ``ca_file=`` options and curl --cacert)."""
        target = Path(path)
        target.write_bytes(self.ca_pem)
        return target

    def _tempfile(self, data: bytes, suffix: str) -> str:
        # ssl.load_cert_chain wants files; they live until it has read them.
        handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)  # noqa: SIM115
        with handle:
            handle.write(data)
        self._files.append(Path(handle.name))
        return handle.name

    def server_context(
        self, alpn: Sequence[str] = ("h2", "http/1.1"), *, require_client_cert: bool = False
    ) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        cert = self._tempfile(self.server_cert_pem + self.ca_pem, ".pem")
        key = self._tempfile(self.server_key_pem, ".key")
        try:
            ctx.load_cert_chain(cert, key)
        finally:
            # ssl reads them here and never again: a process killed later
            # (Ctrl-C on `pushgate simulate`) leaves no key in the temp folder.
            self.cleanup()
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=self.ca_pem.decode())
        return ctx

    def client_context(self, alpn: Sequence[str] = ("h2",)) -> ssl.SSLContext:
        """A client context that trusts this CA (and only it)."""
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode())
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx

    def cleanup(self) -> None:
        for path in self._files:
            path.unlink(missing_ok=True)
        self._files.clear()

    def __del__(self) -> None:
        self.cleanup()
