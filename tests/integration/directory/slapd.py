"""A real OpenLDAP server for the directory sync tests: Debian's ``slapd`` in a temporary
directory, on free loopback ports (``ldap://`` with StartTLS, and ``ldaps://``), with the
core, cosine, inetOrgPerson and NIS schemas and a tiny schema of the two Active
Directory attributes the sync reads (``sAMAccountName``, ``userAccountControl``) under a
private test OID. Its TLS certificate is signed by a test CA made here with
``cryptography``. Populated with ``ldapadd``; stopped by its PID.

A bind as the sync account (not the root DN, which no limit applies to) gets at most
``SIZE_LIMIT`` entries from one plain search: only a paged search reads more.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
SYNC_DN = f"cn=tokenstile,ou=services,{SUFFIX}"
SYNC_PASSWORD = "sync-secret-3f9a"
SIZE_LIMIT = 500

AD_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'tokenstileTestAdUser' SUP top AUXILIARY
  MAY ( sAMAccountName $ userAccountControl ) )
"""

BASE_LDIF = f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {SYNC_DN}
objectClass: person
cn: tokenstile
sn: sync
userPassword: {SYNC_PASSWORD}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DirectoryCa:
    cert_pem: bytes
    key: ec.EllipticCurvePrivateKey
    name: x509.Name

    @classmethod
    def make(cls, common_name: str) -> DirectoryCa:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
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
            .sign(key, hashes.SHA256())
        )
        return cls(cert.public_bytes(serialization.Encoding.PEM), key, name)

    def issue_server(self) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for 127.0.0.1 and localhost."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class Slapd:
    folder: Path
    port: int = field(default_factory=free_port)
    ldaps_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def configure(self) -> None:
        ca = DirectoryCa.make("Tokenstile test directory CA")
        cert, key = ca.issue_server()
        self.ca_file.write_bytes(ca.cert_pem)
        (self.folder / "server.pem").write_bytes(cert)
        (self.folder / "server.key").write_bytes(key)
        (self.folder / "server.key").chmod(0o600)
        (self.folder / "ad.schema").write_text(AD_SCHEMA)
        (self.folder / "db").mkdir()
        schemas = "\n".join(
            f"include /etc/ldap/schema/{name}.schema"
            for name in ("core", "cosine", "inetorgperson", "nis")
        )
        (self.folder / "slapd.conf").write_text(
            f"""{schemas}
include {self.folder / "ad.schema"}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {self.folder / "slapd.pid"}
TLSCACertificateFile {self.ca_file}
TLSCertificateFile {self.folder / "server.pem"}
TLSCertificateKeyFile {self.folder / "server.key"}
sizelimit size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited
database mdb
maxsize 268435456
dbnosync
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {self.folder / "db"}
"""
        )

    def start(self) -> None:
        log = (self.folder / "slapd.log").open("ab")
        self.process = subprocess.Popen(
            [
                SLAPD,
                "-f",
                str(self.folder / "slapd.conf"),
                "-h",
                f"{self.url}/ {self.ldaps_url}/",
                "-d",
                "0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        for _ in range(500):  # until it listens (or ended)
            if self.process.poll() is not None:
                text = (self.folder / "slapd.log").read_text(errors="replace")
                raise RuntimeError(f"slapd ended at start: {text}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.02)
            else:
                return
        raise RuntimeError("slapd did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL by PID: the server goes away mid-conversation."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def _tool(self, tool: str, ldif: str, *extra: str) -> None:
        done = subprocess.run(
            [tool, "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD, *extra],
            input=ldif.encode(),
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.decode(errors='replace')}")

    def add(self, ldif: str) -> None:
        self._tool("/usr/bin/ldapadd", ldif)

    def modify(self, ldif: str) -> None:
        self._tool("/usr/bin/ldapmodify", ldif)

    def delete(self, *dns: str) -> None:
        self._tool("/usr/bin/ldapdelete", "\n".join(dns) + "\n")


def person_ldif(
    ou_dn: str,
    uid: str,
    *,
    display_name: str | None = None,
    control: int | None = None,
    sam: str | None = None,
    rdn: str | None = None,
) -> str:
    """One inetOrgPerson (with the AD attributes when given) under ``ou_dn``."""
    lines = [
        f"dn: {rdn or f'uid={uid}'},{ou_dn}",
        "objectClass: inetOrgPerson",
        "objectClass: tokenstileTestAdUser",
        f"cn: {uid}",
        f"sn: {uid}",
    ]
    if rdn is None or rdn.startswith("uid="):
        lines.append(f"uid: {uid}")
    if display_name is not None:
        lines.append(f"displayName:: {_b64(display_name)}")
    if control is not None:
        lines.append(f"userAccountControl: {control}")
    if sam is not None:
        lines.append(f"sAMAccountName: {sam}")
    return "\n".join(lines) + "\n\n"


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def ou_ldif(dn: str) -> str:
    name = dn.split(",", 1)[0].split("=", 1)[1]
    return f"dn: {dn}\nobjectClass: organizationalUnit\nou: {name}\n\n"


def group_ldif(dn: str, members: list[str]) -> str:
    name = dn.split(",", 1)[0].split("=", 1)[1]
    lines = [f"dn: {dn}", "objectClass: groupOfNames", f"cn: {name}"]
    # groupOfNames needs one member at least: an empty group holds only the sync account.
    lines += [f"member: {m}" for m in members or [SYNC_DN]]
    return "\n".join(lines) + "\n\n"
