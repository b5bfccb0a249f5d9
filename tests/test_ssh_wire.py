"""plica.ssh.wire reads Ed25519 and ECDSA key blobs itself and hands every other blob to cryptography's
loader: a differential test that both read every blob alike, well formed or not."""

from __future__ import annotations

import base64
import subprocess
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plica.errors import BadRequest
from plica.ssh import wire
from plica.testing import ssh_wire

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
OPENSSH = serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
CURVES = {b"nistp256": ec.SECP256R1(), b"nistp384": ec.SECP384R1(), b"nistp521": ec.SECP521R1()}


def points(curve: ec.EllipticCurve) -> list[bytes]:
    pub = ec.generate_private_key(curve).public_key()
    full = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    squeezed = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    off_curve = full[:-1] + bytes([full[-1] ^ 1])
    return [full, squeezed, off_curve, full[:-1], b"\x04", b"", b"\x00"]


ED_POINTS = [
    ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*RAW),
    b"\x01" * 31,
    b"\x02" * 33,
    b"",
]
EC_POINTS = {name: points(curve) for name, curve in CURVES.items()}
RSA_BLOB = base64.b64decode(
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .public_key()
    .public_bytes(*OPENSSH)
    .split()[1]
)
KINDS = [b"ssh-ed25519", *(b"ecdsa-sha2-" + n for n in CURVES), b"ssh-rsa", b"ssh-dss", b"", b"ssh-ed448"]


@st.composite
def blobs(draw: Any) -> bytes:
    kind = draw(st.sampled_from(KINDS))
    curve = draw(st.sampled_from([*CURVES, b"", b"nistp999"]))
    if kind == b"ssh-ed25519":
        fields = [kind, draw(st.sampled_from(ED_POINTS))]
    elif kind == b"ssh-rsa":
        return RSA_BLOB + draw(st.sampled_from([b"", b"\x00", ssh_wire(b"x")]))
    else:
        # A point of the kind's curve or of the named one: the two must agree.
        own = EC_POINTS.get(kind.removeprefix(b"ecdsa-sha2-"), [b"\x04" * 65])
        fields = [kind, curve, draw(st.sampled_from(own + EC_POINTS.get(curve, [])))]
    # Whole, or one thing wrong with its framing: a field dropped, one more, cut short, a stray tail.
    shape = draw(st.sampled_from(["whole", "whole", "drop", "extra", "cut", "tail"]))
    if shape == "drop":
        fields = fields[: draw(st.integers(0, len(fields) - 1))]
    elif shape == "extra":
        fields.append(draw(st.binary(max_size=70)))
    blob = ssh_wire(*fields)
    if shape == "cut":
        return blob[: len(blob) - draw(st.integers(1, 8))]
    return blob + draw(st.binary(min_size=1, max_size=3)) if shape == "tail" else blob


def by_library(blob: bytes) -> Any:
    try:
        key = serialization.load_ssh_public_key(wire._openssh_line(blob))
    except wire._NOT_A_KEY:
        return None
    return key.public_bytes(*OPENSSH)


@pytest.mark.filterwarnings("ignore:SSH DSA key")
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blobs())
def test_blobs_read_as_cryptography_reads_them(blob: bytes) -> None:
    expected = by_library(blob)
    try:
        key, same = wire.parse_ssh_public_key(base64.b64encode(blob).decode())
    except BadRequest:
        assert expected is None
        return
    assert same == blob
    assert key.public_bytes(*OPENSSH) == expected


def test_every_kind_of_key_is_read() -> None:
    keys = [
        ed25519.Ed25519PrivateKey.generate().public_key(),
        *(ec.generate_private_key(c).public_key() for c in CURVES.values()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
    ]
    for key in keys:
        line = key.public_bytes(*OPENSSH)
        got, blob = wire.parse_ssh_public_key(line.split()[1].decode())
        assert got.public_bytes(*OPENSSH) == line and type(got) is type(key)
        assert blob == base64.b64decode(line.split()[1])


@pytest.mark.parametrize(
    ("kind", "bits"), [("ed25519", None), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521)]
)
def test_keys_ssh_keygen_made(tmp_path: Any, kind: str, bits: int | None) -> None:
    """Keys from OpenSSH's own ssh-keygen, the keys clients send, read as cryptography reads them."""
    path = tmp_path / "id"
    size = ["-b", str(bits)] if bits else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *size, "-N", "", "-f", str(path)], check=True)
    line = (tmp_path / "id.pub").read_bytes().split()
    key, blob = wire.parse_ssh_public_key(line[1].decode())
    assert blob == base64.b64decode(line[1])
    expected = serialization.load_ssh_public_key(line[0] + b" " + line[1])
    assert key.public_bytes(*OPENSSH) == expected.public_bytes(*OPENSSH)
