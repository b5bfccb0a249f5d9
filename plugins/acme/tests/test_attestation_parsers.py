"""The parsers of untrusted attestation input never fail other than with the problem saying why: arbitrary
bytes as attObj (through base64url and CBOR), as TPM structures, and every truncation of real ones."""

from __future__ import annotations

import hashlib

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from plica_acme.attestation import check
from plica_acme.attestation.tpmwire import TPMError, parse_certify_info, parse_public
from plica_acme.problems import Problem

from .acme_helpers.attest_devices import CA, apple_attobj, b64url

ROOT = CA("Parser Test Root")
SUB = CA("Parser Test Sub", parent=ROOT)
FORMATS = frozenset({"apple", "step", "tpm"})


def _check(att_obj: bytes) -> None:
    check(
        {"attObj": b64url(att_obj)},
        identifier="dev",
        token="tok",
        key_auth="tok.thumb",
        formats=FORMATS,
        roots=(ROOT.cert,),
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_attobj_is_a_problem(data: bytes) -> None:
    try:
        _check(data)
    except Problem as p:
        assert p.kind in ("badAttestationStatement", "rejectedIdentifier")


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.binary(max_size=64) | st.text(max_size=16),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20))  # fmt: skip
def test_random_statements_are_problems(stmt: object) -> None:
    for fmt in ("apple", "step", "tpm"):
        try:
            _check(cbor2.dumps({"fmt": fmt, "attStmt": stmt}))
        except Problem as p:
            assert p.kind == "badAttestationStatement"


def test_every_truncation_of_a_real_attestation_is_a_problem() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    att = apple_attobj(SUB, key, nonce=hashlib.sha256(b"tok.thumb").digest(), udid="dev")
    _check(att)  # whole, it verifies
    for n in range(len(att)):
        try:
            _check(att[:n])
        except Problem as p:
            assert p.kind == "badAttestationStatement"
        else:
            raise AssertionError(f"a truncation to {n} bytes verified")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_tpm_structures_fail_only_with_tpm_errors(data: bytes) -> None:
    for parse in (parse_certify_info, parse_public):
        try:
            parse(data)
        except TPMError:
            pass
