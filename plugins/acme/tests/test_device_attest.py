"""device-attest-01 end to end through the real HTTPS server with this suite's ACME client (certbot and
lego do not speak it): a TPM (Debian's swtpm, driven by tpm2-tools through examples/tpm_attest.py) whose
AK a test CA certified, and Apple and YubiKey attestations built as the devices build them
(acme_helpers/attest_devices.py), each chained to test roots given as `attestationRoots`. Every refused
input leaves the challenge invalid with a problem naming the failed check, and no certificate."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.testing import CAFiles, free_port, in_process_ca, make_ca, postgres_database, postgres_listening
from plica_acme.attestation.tpmwire import TPMError, parse_certify_info, parse_public

from .acme_helpers.acme_test_ca import client
from .acme_helpers.acme_test_client import Acme
from .acme_helpers.attest_devices import (
    CA,
    YubiKey,
    ak_certificate,
    apple_attobj,
    b64url,
    der,
    permanent_identifier,
    roots_b64,
)
from .test_acme_flow import openssl_verify

_spec = importlib.util.spec_from_file_location(
    "tpm_attest", Path(__file__).resolve().parents[1] / "examples" / "tpm_attest.py"
)
assert _spec is not None and _spec.loader is not None
tpm_attest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tpm_attest)

UDID = "00008030-001A2D8E3C02802E"
needs_swtpm = pytest.mark.skipif(
    shutil.which("swtpm") is None or shutil.which("tpm2_send") is None,
    reason="needs Debian's swtpm and tpm2-tools",
)


def add_da(files: CAFiles, roots: str | None, formats: list[str], **extra: Any) -> None:
    block: dict[str, Any] = {
        "type": "ACME",
        "name": "acme-da",
        "challenges": ["device-attest-01"],
        "attestationFormats": formats,
        **extra,
    }
    if roots is not None:
        block["attestationRoots"] = roots
    files.add_provisioner(block)


async def order_for(c: Acme, device: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A new order for the device: (order URL, order, its device-attest-01 challenge)."""
    r = await c.post(c.dir["newOrder"], {"identifiers": [{"type": "permanent-identifier", "value": device}]})
    assert r.status == 201, r.body
    [authz] = await c.authorizations(r.body)
    assert [ch["type"] for ch in authz["challenges"]] == ["device-attest-01"]
    return r.location, r.body, c.challenge(authz, "device-attest-01")


async def answer(c: Acme, ch: dict[str, Any], att_obj: bytes) -> dict[str, Any]:
    r = await c.post(ch["url"], {"attObj": b64url(att_obj)})
    assert r.status == 200, r.body
    return r.body


def csr(key: Any, cn: str | None, sans: list[x509.GeneralName] | None = None) -> bytes:
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


async def finalize(c: Acme, order: dict[str, Any], csr_der: bytes) -> Any:
    return await c.post(order["finalize"], {"csr": b64url(csr_der)})


async def certificate(c: Acme, url: str) -> tuple[list[x509.Certificate], bytes]:
    r = await c.get(url)
    assert r.status == 200, r.body
    return x509.load_pem_x509_certificates(r.raw), r.raw


def device_sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def spki(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


async def refused(
    c: Acme, url: str, order: dict[str, Any], ch: dict[str, Any], body: dict[str, Any], why: str
) -> None:
    """The challenge is invalid with a badAttestationStatement naming `why`; the order is invalid and
    cannot be finalized."""
    assert body["status"] == "invalid", body
    assert body["error"]["type"] == "urn:ietf:params:acme:error:badAttestationStatement", body
    assert why in body["error"]["detail"] + str(body["error"].get("subproblems", "")), body["error"]
    r = await c.get(url)
    assert r.body["status"] == "invalid" and "certificate" not in r.body, r.body
    r = await finalize(c, order, csr(ec.generate_private_key(ec.SECP256R1()), None))
    assert r.status == 403 and r.problem == "orderNotReady", r.body


# ------------------------------------------------------------------------------------------------ TPM


def _port_pair() -> int:
    """A free port whose successor is free too (the swtpm TCTI puts the control channel at port + 1)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


@contextmanager
def swtpm(state: Path) -> Iterator[str]:
    """A software TPM in socket mode with its own state directory; yields its tpm2-tools TCTI."""
    state.mkdir()
    port = _port_pair()
    proc = subprocess.Popen(
        [
            "swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
            "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
            "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
            "--flags", "not-need-init,startup-clear",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port + 1), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"swtpm did not start: {err!r}") from None
                time.sleep(0.05)
        yield f"swtpm:host=127.0.0.1,port={port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@needs_swtpm
async def test_tpm_with_ecdsa_ak(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    """An ECDSA AK (alg ES256, the signature DER as WebAuthn has it) and an AK certificate that names no
    device: it binds the key only (as in step-ca), and the certificate still names the ordered device."""
    device = "TPM-ECC-1"
    enrolment = CA("Plica Test TPM Enrolment Root")
    files = make_ca(tmp_path / "ca")
    add_da(files, roots_b64(enrolment), ["tpm"])
    with swtpm(tmp_path / "tpmstate") as tcti:
        tpm = tpm_attest.Tpm(tmp_path / "tpm", tcti)
        ak_cert = ak_certificate(
            enrolment, serialization.load_pem_public_key(tpm.create_ak("ecc")), device=None
        )
        tpm.create_key()
        async with in_process_ca(files):
            c = client(files, session, name="acme-da")
            await c.register()
            _, order, ch = await order_for(c, device)
            att = tpm.attestation(c.key_authorization(ch["token"]), [der(ak_cert)])
            assert cbor2.loads(att)["attStmt"]["alg"] == -7
            body = await answer(c, ch, att)
            assert body["status"] == "valid", body
            r = await finalize(c, order, tpm.csr(device))
            assert r.status == 200, r.body
            chain, _ = await certificate(c, r.body["certificate"])
    assert device_sans(chain[0]) == [permanent_identifier(device)]


@needs_swtpm
async def test_tpm_key_gets_certificate(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    device = "TPM-EK-0f1e2d3c"
    enrolment = CA("Plica Test TPM Enrolment Root")
    other = CA("Someone Else's AK CA")
    files = make_ca(tmp_path / "ca")
    add_da(files, roots_b64(enrolment), ["tpm"])
    with swtpm(tmp_path / "tpmstate") as tcti:
        tpm = tpm_attest.Tpm(tmp_path / "tpm", tcti)
        ak_pub = serialization.load_pem_public_key(tpm.create_ak())
        ak_cert = ak_certificate(enrolment, ak_pub, device=device)
        tpm.create_key()
        tpm_key = serialization.load_pem_public_key(tpm.public_key_pem())
        async with in_process_ca(files):
            c = client(files, session, name="acme-da")
            assert (await c.register()).status == 201

            # Qualifying data that is not this challenge's key authorization.
            url, order, ch = await order_for(c, device)
            body = await answer(c, ch, tpm.attestation("another.authorization", [der(ak_cert)]))
            await refused(c, url, order, ch, body, "qualifying data (extraData)")

            # An AK certified by a CA the provisioner does not trust.
            url, order, ch = await order_for(c, device)
            foreign = ak_certificate(other, ak_pub, device=device)
            body = await answer(c, ch, tpm.attestation(c.key_authorization(ch["token"]), [der(foreign)]))
            await refused(c, url, order, ch, body, "not one of the trusted attestation roots")

            # An AK certificate naming another device.
            url, order, ch = await order_for(c, "TPM-EK-99999999")
            body = await answer(c, ch, tpm.attestation(c.key_authorization(ch["token"]), [der(ak_cert)]))
            await refused(c, url, order, ch, body, "permanent identifier does not match")

            # The real attestation of the TPM's key.
            url, order, ch = await order_for(c, device)
            att = tpm.attestation(c.key_authorization(ch["token"]), [der(ak_cert)])
            body = await answer(c, ch, att)
            assert body["status"] == "valid", body
            r = await c.get(url)
            assert r.body["status"] == "ready", r.body
            # A CSR for another key is refused, and the order stays ready for the right one.
            r = await finalize(c, order, csr(ec.generate_private_key(ec.SECP256R1()), device))
            assert r.status == 403 and r.problem == "unauthorized", r.body
            assert "not the key the device attested" in r.body["detail"]
            r = await finalize(c, order, tpm.csr(device))
            assert r.status == 200 and r.body["status"] == "valid", r.body
            chain, pem = await certificate(c, r.body["certificate"])
    leaf = chain[0]
    assert spki(leaf.public_key()) == spki(tpm_key)
    assert device_sans(leaf) == [permanent_identifier(device)]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]  # DefaultAttestedLeafTemplate
    openssl_verify(files, pem, tmp_path)
    # The bounded reader: the TPM's own structures parse, and every truncation of them is refused.
    stmt = cbor2.loads(att)["attStmt"]
    for field, parse in (("certInfo", parse_certify_info), ("pubArea", parse_public)):
        parse(stmt[field])
        for n in range(len(stmt[field])):
            with pytest.raises(TPMError):
                parse(stmt[field][:n])
        with pytest.raises(TPMError, match="after its end"):
            parse(stmt[field] + b"\0")


# ---------------------------------------------------------------------------------------------- Apple


async def test_apple_managed_device(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    root = CA("Test Enterprise Attestation Root CA")
    sub = CA("Test Enterprise Attestation Sub CA 1", parent=root)
    template = (
        '{"subject": {"commonName": {{ toJson .AttestationData.serialNumber }},'
        ' "organizationalUnit": [{{ toJson .AttestationData.format }}, {{ toJson .AttestationData.udid }}]},'
        ' "sans": {{ toJson .SANs }}, "extKeyUsage": ["clientAuth"]}'
    )
    files = make_ca(tmp_path / "ca")
    add_da(files, roots_b64(root), ["apple"], options={"x509": {"template": template}})
    async with in_process_ca(files):
        c = client(files, session, name="acme-da")
        await c.register()
        key = ec.generate_private_key(ec.SECP256R1())
        _, order, ch = await order_for(c, UDID)
        nonce = hashlib.sha256(c.key_authorization(ch["token"]).encode()).digest()
        body = await answer(c, ch, apple_attobj(sub, key, nonce=nonce, udid=UDID))
        assert body["status"] == "valid", body
        # The CSR may name the device in a permanentIdentifier SAN, as Apple's devices do.
        r = await finalize(c, order, csr(key, UDID, [permanent_identifier(UDID)]))
        assert r.status == 200, r.body
        chain, pem = await certificate(c, r.body["certificate"])
        leaf = chain[0]
        assert spki(leaf.public_key()) == spki(key.public_key())
        assert device_sans(leaf) == [permanent_identifier(UDID)]
        # The template put the attested serial number in the subject.
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "C02XK1ZZJGH5"
        ous = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
        assert ous == ["apple", UDID]
        openssl_verify(files, pem, tmp_path)

        # What Apple's devices send in fact (and step-ca checks): the nonce is the SHA-256 of the token.
        _, order, ch = await order_for(c, "C02XK1ZZJGH5")  # the serial is a device identifier too
        nonce = hashlib.sha256(ch["token"].encode()).digest()
        body = await answer(c, ch, apple_attobj(sub, key, nonce=nonce))
        assert body["status"] == "valid", body


# -------------------------------------------------------------------------------------------- YubiKey


async def test_yubikey_piv(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    root = CA("Test Yubico PIV Root CA")
    yubikey = YubiKey(root)
    template = (
        '{"subject": {"commonName": {{ toJson .AttestationData.serialNumber }},'
        ' "organizationalUnit": [{{ toJson .AttestationData.firmware }}, {{ toJson .AttestationData.pinPolicy }},'
        ' {{ toJson .AttestationData.touchPolicy }}]}, "sans": {{ toJson .SANs }}}'
    )
    files = make_ca(tmp_path / "ca")
    add_da(files, roots_b64(root), ["step"], options={"x509": {"template": template}})
    async with in_process_ca(files):
        c = client(files, session, name="acme-da")
        await c.register()
        slot_key = ec.generate_private_key(ec.SECP256R1())
        _, order, ch = await order_for(c, str(yubikey.serial))
        body = await answer(c, ch, yubikey.attobj(slot_key, c.key_authorization(ch["token"])))
        assert body["status"] == "valid", body
        r = await finalize(c, order, csr(slot_key, str(yubikey.serial)))
        assert r.status == 200, r.body
        chain, pem = await certificate(c, r.body["certificate"])
    leaf = chain[0]
    assert spki(leaf.public_key()) == spki(slot_key.public_key())
    assert device_sans(leaf) == [permanent_identifier(str(yubikey.serial))]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "17483201"
    ous = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    assert sorted(ous) == ["5.4.3", "cached", "once"]  # one RDN: a DER SET, sorted
    openssl_verify(files, pem, tmp_path)


# ------------------------------------------------------------------------------------------ bad input

_ROOT = CA("Test Attestation Root")
_SUB = CA("Test Attestation Sub CA", parent=_ROOT)
_YUBIKEY = YubiKey(_ROOT)
_PAST = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def _nonce(c: Acme, ch: dict[str, Any]) -> bytes:
    return hashlib.sha256(c.key_authorization(ch["token"]).encode()).digest()


def _deep(depth: int) -> bytes:
    inner = cbor2.dumps({"fmt": "apple", "attStmt": {}})
    return b"\x81" * depth + inner


BAD: dict[str, Any] = {
    "untrusted root": (
        "apple",
        lambda c, ch, k: apple_attobj(CA("Mallory Sub", parent=CA("Mallory Root")), k, nonce=_nonce(c, ch)),
        "not one of the trusted attestation roots",
    ),
    "expired attestation certificate": (
        "apple",
        lambda c, ch, k: apple_attobj(_SUB, k, nonce=_nonce(c, ch), not_after=_PAST),
        "expired",
    ),
    "nonce of another key authorization": (
        "apple",
        lambda c, ch, k: apple_attobj(_SUB, k, nonce=hashlib.sha256(b"x.y").digest()),
        "nonce is not the SHA-256 of the key authorization",
    ),
    "serial of another device": (
        "apple",
        lambda c, ch, k: apple_attobj(_SUB, k, nonce=_nonce(c, ch), udid="OTHER", serial="OTHER"),
        "permanent identifier does not match",
    ),
    "yubikey signature over another key authorization": (
        "step",
        lambda c, ch, k: _YUBIKEY.attobj(k, "another.authorization"),
        "not the attested key's signature",
    ),
    "yubikey serial of another device": (
        "step",
        lambda c, ch, k: _YUBIKEY.attobj(k, c.key_authorization(ch["token"])),
        "permanent identifier does not match",
    ),
    "format not enabled": (
        "step",
        lambda c, ch, k: apple_attobj(_SUB, k, nonce=_nonce(c, ch)),
        "'apple' is not enabled",
    ),
    "truncated CBOR": (
        "apple",
        lambda c, ch, k: apple_attobj(_SUB, k, nonce=_nonce(c, ch))[:-40],
        "not well-formed CBOR",
    ),
    "deep nesting": ("apple", lambda c, ch, k: _deep(5000), "nesting depth"),
    "huge length": (
        "apple",
        lambda c, ch, k: (
            b"\xa2\x63fmt\x65apple\x67attStmt\xa1\x63x5c\x81\x5b" + (2**62).to_bytes(8, "big") + b"ab"
        ),
        "not well-formed CBOR",
    ),
    "huge array": (
        "apple",
        lambda c, ch, k: b"\x9b" + (2**40).to_bytes(8, "big") + b"\x00",
        "not well-formed CBOR",
    ),
    "too large": (
        "apple",
        lambda c, ch, k: cbor2.dumps({"fmt": "apple", "attStmt": {"x": b"\0" * 70_000}}),
        "at most",
    ),
    "not a map": ("apple", lambda c, ch, k: cbor2.dumps([1, 2, 3]), "not a CBOR map"),
    "trailing bytes": (
        "apple",
        lambda c, ch, k: apple_attobj(_SUB, k, nonce=_nonce(c, ch)) + b"\x00",
        "after its CBOR item",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_bad_attestation_is_refused(tmp_path: Path, session: aiohttp.ClientSession, case: str) -> None:
    fmt, build, why = BAD[case]
    files = make_ca(tmp_path / "ca")
    add_da(files, roots_b64(_ROOT), [fmt])
    async with in_process_ca(files):
        c = client(files, session, name="acme-da")
        await c.register()
        key = ec.generate_private_key(ec.SECP256R1())
        url, order, ch = await order_for(c, UDID)
        body = await answer(c, ch, build(c, ch, key))
        await refused(c, url, order, ch, body, why)


async def test_bad_payloads_and_csrs(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    files = make_ca(tmp_path / "ca")
    add_da(files, roots_b64(_ROOT), ["apple"])
    async with in_process_ca(files):
        c = client(files, session, name="acme-da")
        await c.register()
        # Not base64url, and no attObj at all.
        for payload, why in (({"attObj": "***"}, "not base64url"), ({}, "attObj")):
            url, order, ch = await order_for(c, UDID)
            r = await c.post(ch["url"], payload)
            assert r.status == 200, r.body
            await refused(c, url, order, ch, r.body, why)
        # A valid attestation, then CSRs that ask for more than the device.
        key = ec.generate_private_key(ec.SECP256R1())
        url, order, ch = await order_for(c, UDID)
        body = await answer(c, ch, apple_attobj(_SUB, key, nonce=_nonce(c, ch)))
        assert body["status"] == "valid", body
        for bad_csr, problem, why in (
            (csr(key, "someone-else"), "badCSR", "common name"),
            (csr(key, UDID, [x509.DNSName("www.example.com")]), "badCSR", "DNSName"),
            (
                csr(ec.generate_private_key(ec.SECP256R1()), UDID),
                "unauthorized",
                "not the key the device attested",
            ),
        ):
            r = await finalize(c, order, bad_csr)
            assert r.status in (400, 403) and r.problem == problem and why in r.body["detail"], r.body
        assert (await c.get(url)).body["status"] == "ready"
        # An order may not mix the device with names.
        r = await c.post(
            c.dir["newOrder"],
            {
                "identifiers": [
                    {"type": "permanent-identifier", "value": UDID},
                    {"type": "dns", "value": "a.test"},
                ]
            },
        )
        assert r.status == 400 and r.problem in ("rejectedIdentifier", "compound"), r.body


# ------------------------------------------------------------------------------------------------ CLI


async def test_cli_adds_a_device_attestation_provisioner(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """`plica provisioner add acme-da --type ACME --challenge device-attest-01 --attestation-format apple
    --attestation-roots FILE` makes a provisioner that trusts that file's roots; without the flag it trusts
    Apple's real root, so the test chain is refused."""
    from .test_acme_admin import plica

    files = make_ca(tmp_path / "ca")
    roots = tmp_path / "roots.pem"
    roots.write_bytes(_ROOT.pem())
    for name, extra in (("acme-da", ["--attestation-roots", str(roots)]), ("acme-apple", [])):
        out = plica(
            files, "provisioner", "add", name, "--type", "ACME", "--challenge", "device-attest-01",
            "--attestation-format", "apple", *extra,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
    blocks = {p["name"]: p for p in files.config()["authority"]["provisioners"]}
    assert blocks["acme-da"]["challenges"] == ["device-attest-01"]
    assert blocks["acme-da"]["attestationFormats"] == ["apple"]
    assert blocks["acme-da"]["attestationRoots"] == roots_b64(_ROOT)
    assert "attestationRoots" not in blocks["acme-apple"]
    async with in_process_ca(files):
        key = ec.generate_private_key(ec.SECP256R1())
        c = client(files, session, name="acme-da")
        await c.register()
        # Only device-attest-01 is enabled: a DNS name cannot be ordered there.
        r = await c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "a.test"}]})
        assert r.status == 400 and r.problem == "rejectedIdentifier", r.body
        _, _, ch = await order_for(c, UDID)
        body = await answer(c, ch, apple_attobj(_SUB, key, nonce=_nonce(c, ch)))
        assert body["status"] == "valid", body
        c = client(files, session, name="acme-apple")
        await c.register()
        url, order, ch = await order_for(c, UDID)
        body = await answer(c, ch, apple_attobj(_SUB, key, nonce=_nonce(c, ch)))
        await refused(c, url, order, ch, body, "not one of the trusted attestation roots")


# ----------------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A database of its own on the PostgreSQL at 127.0.0.1:5432 (or PLICA_TEST_POSTGRES), dropped after."""
    pytest.importorskip("asyncpg", reason="asyncpg (the `postgres` extra) is not installed")
    if not postgres_listening():
        pytest.skip("nothing listens at PostgreSQL's address")
    with postgres_database("plica_attest") as url:
        yield url


async def test_yubikey_on_postgresql(
    tmp_path: Path, session: aiohttp.ClientSession, pg_database: str
) -> None:
    """The attestation column and its statements on PostgreSQL."""
    files = make_ca(tmp_path / "ca")
    cfg = files.config()
    cfg["db"] = {"type": "postgresql", "dataSource": pg_database}
    files.write_config(cfg)
    add_da(files, roots_b64(_ROOT), ["step"])
    async with in_process_ca(files):
        c = client(files, session, name="acme-da")
        await c.register()
        key = ec.generate_private_key(ec.SECP256R1())
        _, order, ch = await order_for(c, str(_YUBIKEY.serial))
        body = await answer(c, ch, _YUBIKEY.attobj(key, c.key_authorization(ch["token"])))
        assert body["status"] == "valid", body
        r = await finalize(c, order, csr(key, None))
        assert r.status == 200, r.body
        chain, _ = await certificate(c, r.body["certificate"])
        assert device_sans(chain[0]) == [permanent_identifier(str(_YUBIKEY.serial))]
