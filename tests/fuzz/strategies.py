"""Hypothesis strategies for hostile requests, derived from the kernel's request models (plica.http.wire.BODIES
for step's bodies, plica.tokens.CLAIM_TYPES for token claims) and from the ACME payload fields of RFC 8555.

Every field gets either a boundary value of its own kind (a time of year 9999, a serial of 5,000 digits, a
CSR with one byte changed, a token signed by the real provisioner key with a claim of the wrong type) or a
JSON value of any other type, so a request reaches each check behind the ones before it.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st

from plica.http.wire import BODIES
from plica.testing import ProvKey, compressed_ec_point, ssh_wire
from plica.tokens import CLAIM_TYPES

SPECIAL_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "é",
    "\u202e\u0000\ud7ff",
    "ü" * 40,
    "\n2026-01-01 00:00:00 ERROR forged line",
    "9" * 5000,
    "0x" + "f" * 3000,
    "-1",
    "18446744073709551616",
    "../../../../etc/passwd",
    "%00%0a",
    "{{ .Token }}",
    "A" * 70000,
    "null",
    "*.",
    "xn--",
]
TIMES = [
    "87600000h",
    "-87600000h",
    "9999-12-31T23:59:59-23:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59Z",
    "2262-04-11T23:47:16Z",
    "1h",
    "0s",
    "1e9h",
    "99999999999999999999h",
    "2026-13-45T99:99:99Z",
    "2026-01-01T00:00:00",
    ".5h",
    "5m30s",
]
INTS = [0, -1, 11, 2**31, 2**63 - 1, -(2**63), 2**64, 10**40, -(10**40)]


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(SPECIAL_STRINGS + TIMES),
        st.text(max_size=30),
        st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
    )


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(INTS),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(hostile_text(), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _csr_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz.example.com")])
    )
    b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("fuzz.example.com")]), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


CSR_DER = _csr_der()
# The byte after the CSR's version INTEGER (02 01 00), and the id-ecPublicKey OID's last byte.
_VERSION_AT = CSR_DER.index(b"\x02\x01\x00") + 2
_KEY_OID = bytes.fromhex("2a8648ce3d0201")
_KEY_OID_AT = CSR_DER.index(_KEY_OID) + len(_KEY_OID) - 1


def pem_csr(der: bytes) -> str:
    b64 = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{b64}-----END CERTIFICATE REQUEST-----\n"


@st.composite
def csr_ders(draw: st.DrawFn) -> bytes:
    """The valid CSR, or it with its version, key algorithm or any one byte changed, or cut short."""
    der = bytearray(CSR_DER)
    how = draw(st.sampled_from(["valid", "version", "key-oid", "byte", "cut"]))
    if how == "version":
        der[_VERSION_AT] = draw(st.integers(1, 255))
    elif how == "key-oid":
        der[_KEY_OID_AT] = draw(st.integers(0, 255))
    elif how == "byte":
        der[draw(st.integers(0, len(der) - 1))] = draw(st.integers(0, 255))
    elif how == "cut":
        der = der[: draw(st.integers(0, len(der)))]
    return bytes(der)


def csr_b64_values() -> st.SearchStrategy[list[str]]:
    """A list of standard-base64 DER blobs (what an x5c header holds), one corrupted CSR or certificate-ish."""
    return st.lists(csr_ders().map(lambda d: base64.b64encode(d).decode()), min_size=1, max_size=2)


def _ssh_blobs() -> list[bytes]:
    """SSH wire blobs of an Ed25519 key, of an ECDSA key as clients send it (uncompressed point) and in the
    compressed form no SSH implementation takes."""
    openssh = serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ed = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*openssh)
    pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    squeezed = ssh_wire(b"ecdsa-sha2-nistp256", b"nistp256", compressed_ec_point())
    return [
        base64.b64decode(ed.split()[1]),
        base64.b64decode(pub.public_bytes(*openssh).split()[1]),
        squeezed,
    ]


SSH_BLOBS = _ssh_blobs()


@st.composite
def ssh_keys(draw: st.DrawFn) -> str:
    """A key as step's API carries it (the standard base64 of its wire blob), a byte of it changed or not;
    now and then in authorized_keys form, which is a client's mistake."""
    raw = bytearray(draw(st.sampled_from(SSH_BLOBS)))
    if draw(st.booleans()):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    b64 = base64.b64encode(bytes(raw)).decode()
    return draw(st.sampled_from([b64, b64, f"ssh-ed25519 {b64}"]))


def claim_sets(key: ProvKey, aud: str) -> st.SearchStrategy[bytes]:
    """A token's claims as JSON bytes: a valid set, with some claims of CLAIM_TYPES and of step.ssh
    replaced by hostile values (big integers stay big: orjson on the server must refuse them)."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": key.name,
            "sub": "fuzz.example.com",
            "aud": aud,
            "jti": draw(st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "sans": ["fuzz.example.com"],
        }
        if draw(st.booleans()):
            claims["step"] = {
                "ssh": {
                    "certType": draw(st.sampled_from(["user", "host", ""])),
                    "keyID": "fuzz",
                    "principals": ["fuzz"],
                    "validAfter": "",
                    "validBefore": "",
                }
            }
        for name in draw(st.lists(st.sampled_from(sorted(CLAIM_TYPES)), max_size=3, unique=True)):
            claims[name] = draw(st.one_of(json_values(), st.sampled_from(TIMES)))
        if isinstance(claims.get("step"), dict) and isinstance(claims["step"].get("ssh"), dict):
            ssh = claims["step"]["ssh"]
            for name in draw(st.lists(st.sampled_from(sorted(ssh)), max_size=2, unique=True)):
                ssh[name] = draw(st.one_of(json_values(), st.sampled_from(TIMES)))
        return json.dumps(claims, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")

    return build()


def value_of(kind: str, token: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    own: dict[str, st.SearchStrategy[Any]] = {
        "token": token,
        "csr": csr_ders().map(pem_csr),
        "time": st.sampled_from(TIMES),
        "serial": st.one_of(
            st.sampled_from(["1", "0x" + "f" * 41, "9" * 4400, "0x", "12ab"]), st.integers(0, 2**200).map(str)
        ),
        "int": st.sampled_from(INTS),
        "bool": st.booleans(),
        "str": hostile_text(),
        "strlist": st.lists(hostile_text(), max_size=3),
        "object": st.dictionaries(hostile_text(), json_values(), max_size=3),
        "sshkey": ssh_keys(),
    }
    return st.one_of(own[kind], own[kind], json_values())


def step_bodies(route: str, token: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A body of one of step's routes: each field of its model present or not, well-typed or not."""
    fields = BODIES[route]
    return st.fixed_dictionaries({}, optional={name: value_of(kind, token) for name, kind in fields.items()})


# RFC 8555 payload members (and RFC 9773's replaces) across all resources: new-account, new-order,
# finalize, key-change, revoke-cert, account update, challenge.
ACME_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "identifiers": st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["dns", "ip", "permanent-identifier", "x"]), "value": hostile_text()}
        ),
        max_size=3,
    ),
    "notBefore": st.sampled_from(TIMES),
    "notAfter": st.sampled_from(TIMES),
    "replaces": st.one_of(hostile_text(), st.just("AAAA." + "A" * 5000), st.just("!!!.@@@")),
    "csr": csr_ders().map(lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()),
    "contact": st.lists(hostile_text(), max_size=2),
    "termsOfServiceAgreed": st.booleans(),
    "onlyReturnExisting": st.booleans(),
    "status": st.sampled_from(["deactivated", "valid", "x"]),
    "certificate": hostile_text(),
    "reason": st.sampled_from(INTS),
    "externalAccountBinding": json_values(),
    "account": hostile_text(),
    "oldKey": json_values(),
}


def acme_payloads() -> st.SearchStrategy[bytes]:
    body = st.fixed_dictionaries(
        {}, optional={k: st.one_of(v, json_values()) for k, v in ACME_FIELDS.items()}
    ).map(lambda d: json.dumps(d).encode())
    return st.one_of(
        body, body, st.just(b""), st.binary(max_size=20), json_values().map(lambda v: json.dumps(v).encode())
    )


def path_values(name: str) -> st.SearchStrategy[str]:
    known = {"provisioner": ["acme", "admin", "scep", "ACME", ""], "sha": ["0" * 64], "kid": ["x"]}
    return st.one_of(st.sampled_from(known.get(name, ["x"])), hostile_text(), st.just("AAAA." + "A" * 3000))


__all__ = [
    "acme_payloads",
    "claim_sets",
    "csr_b64_values",
    "json_values",
    "path_values",
    "step_bodies",
    "value_of",
]
