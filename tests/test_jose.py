"""plica.jose against recorded third-party vectors and a third-party JOSE library (joserfc).

Vectors (copied from the documents named, not produced by Plica):
* smallstep's "Configuring step-ca Provisioners" page, JWK section (our docs/reference/provisioners.md): a ca.json
  JWK provisioner whose `encryptedKey` step wrote with the password `asdf`, and the private JWK that
  `step crypto jwe decrypt` prints for it.
* RFC 7515 appendix A.2 (RS256) and A.3 (ES256), RFC 8037 appendix A.3/A.4 (Ed25519 thumbprint and JWS),
  RFC 7638 section 3.1 (RSA thumbprint).
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from joserfc import jwe, jws
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from plica.errors import Unauthorized
from plica.jose import (
    JOSEError,
    jwe_decrypt_pbes2,
    jwe_encrypt_pbes2,
    key_from_jwk,
    private_jwk,
    public_jwk,
    sign_compact,
    thumbprint,
    verify_signature,
)
from plica.testing import b64url, b64url_decode, jose_key
from plica.tokens import Token

# --- smallstep docs, JWK provisioner example (password "asdf") ----------------------------------------
STEP_KEY = {
    "use": "sig",
    "kty": "EC",
    "kid": "NPM_9Gz_omTqchS6Xx9Yfvs-EuxkYo6VAk4sL7gyyM4",
    "crv": "P-256",
    "alg": "ES256",
    "x": "bBI5AkO9lwvDuWGfOr0F6ttXC-ZRzJo8kKn5wTzRJXI",
    "y": "rcfaqE-EEZgs34Q9SSH3f9Ua5a8dKopXNfEzDD8KRlU",
}
STEP_ENCRYPTED_KEY = (
    "eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJjdHkiOiJqd2sranNvbiIsImVuYyI6IkEyNTZHQ00iLCJwMmMiOjEwMDAwMCwicDJzIjoi"
    "TlV6MjlEb3hKMVdOaFI3dUNjaGdYZyJ9.YN7xhz6RAbz_9bcuXoymBOj8bOg23ETAdmSCRyHpxGekkV0q3STYYg.vo1oBnZsZjgRu5Ln.Xop8"
    "AvZ74h_im2jxeaq-hYYWnaK_eF7MGr4xcZGodMUxp-hGPqS85oWkyprkQLYt1-jXTURfpejtmPeB4-sxgj7OFxMYYus84BdkG9BZgSBmMN9Sq"
    "ZItOv4pqg_NwQA0bv9g9A_e-N6QUFanxuYQsEPX_-IwWBDbNKyN9bXbpEQa0FKNVsTvFahGzOxQngXipi265VADkh8MJLjYerplKIbNeOJJbL"
    "d9CbS9fceLvQUNr3ACGgAejSaWmeNUVqbho1lY4882iS8QVx1VzjluTXlAMdSUUDHArHEihz008kCyF0YfvNdGebyEDLvTmF6KkhqMpsWn3zA"
    "SYBidc9k._ch9BtvRRhcLD838itIQlw"
)
STEP_PRIVATE_D = "rsjCCM_2FQ-uk7nywBEQHl84oaPo4mTpYDgXAu63igE"

# --- RFC 7515 appendix A ----------------------------------------------------------------------------------
RFC7515_PAYLOAD = (
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)
A2_KEY = {
    "kty": "RSA",
    "e": "AQAB",
    "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZ"
    "S-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2C"
    "apHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb5"
    "4h4FRWyuXpoQ",
}
A2_JWS = (
    "eyJhbGciOiJSUzI1NiJ9."
    + RFC7515_PAYLOAD
    + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPv"
    "kSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8"
    "np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
)
A3_KEY = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
}
A3_JWS = (
    "eyJhbGciOiJFUzI1NiJ9."
    + RFC7515_PAYLOAD
    + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApm"
    "WQxfKTUJqPP3-Kg6NU1Q"
)
# --- RFC 8037 appendix A ----------------------------------------------------------------------------------
ED_KEY = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
ED_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
ED_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
ED_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
# --- RFC 7638 section 3.1 ---------------------------------------------------------------------------------
RFC7638_KEY = {
    "kty": "RSA",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
    "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu"
    "6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8aw"
    "apJzKnqDKgw",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


PW = b"correct horse battery"


def split(compact: str) -> tuple[str, bytes, bytes]:
    h, p, s = compact.split(".")
    alg = orjson.loads(b64url_decode(h))["alg"]
    return alg, f"{h}.{p}".encode(), b64url_decode(s)


# ============================================================================ the step vector


def test_step_encrypted_key_decrypts_with_asdf_to_its_kid() -> None:
    header, plain = jwe_decrypt_pbes2(STEP_ENCRYPTED_KEY, b"asdf")
    assert header == {
        "alg": "PBES2-HS256+A128KW",
        "cty": "jwk+json",
        "enc": "A256GCM",
        "p2c": 100000,
        "p2s": "NUz29DoxJ1WNhR7uCchgXg",
    }
    jwk = orjson.loads(plain)
    assert jwk == {**STEP_KEY, "d": STEP_PRIVATE_D}
    assert thumbprint(jwk) == STEP_KEY["kid"]
    key = key_from_jwk(jwk)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert public_jwk(key) == {k: STEP_KEY[k] for k in ("kty", "crv", "x", "y")}
    # The decrypted key signs tokens that verify with the published public key.
    tok = sign_compact({"alg": "ES256", "kid": STEP_KEY["kid"]}, {"sub": "x"}, key)
    Token.parse(tok).verify(key_from_jwk(STEP_KEY))  # type: ignore[arg-type]


@pytest.mark.parametrize("password", [b"asdf ", b"ASDF", b""])
def test_step_encrypted_key_refuses_other_passwords(password: bytes) -> None:
    with pytest.raises(JOSEError, match="wrong password"):
        jwe_decrypt_pbes2(STEP_ENCRYPTED_KEY, password)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.rsplit(".", 1)[0],  # four parts
        lambda t: t.replace(".vo1oBnZsZjgRu5Ln.", ".vo1oBnZsZjgRu5Lm."),  # another IV
        lambda t: t[:-3] + "AAA",  # another tag
        lambda t: (
            b64url(orjson.dumps({"alg": "PBES2-HS256+A128KW", "enc": "A256GCM", "p2c": 10**9, "p2s": "AA"}))
            + t[t.index(".") :]
        ),  # a p2c that would take hours
        lambda t: (
            b64url(orjson.dumps({"alg": "dir", "enc": "A256GCM", "p2c": 1000, "p2s": "AA"}))
            + t[t.index(".") :]
        ),
    ],
)
def test_damaged_jwe_is_a_jose_error(mangle: Any) -> None:
    with pytest.raises(JOSEError):
        jwe_decrypt_pbes2(mangle(STEP_ENCRYPTED_KEY), b"asdf")


def test_jwe_interoperates_with_joserfc() -> None:
    secret = orjson.dumps({"kty": "EC", "d": "secret"})
    # Ours → joserfc.
    ours = jwe_encrypt_pbes2(secret, PW, p2c=1000)
    dec = jwe.decrypt_compact(ours, OctKey.import_key(PW), algorithms=["PBES2-HS256+A128KW", "A256GCM"])
    assert dec.plaintext == secret and dec.headers()["cty"] == "jwk+json"
    # joserfc → ours.
    theirs = jwe.encrypt_compact(
        {"alg": "PBES2-HS256+A128KW", "enc": "A256GCM", "p2c": 4096},
        secret,
        OctKey.import_key(PW),
        algorithms=["PBES2-HS256+A128KW", "A256GCM"],
    )
    assert jwe_decrypt_pbes2(theirs, PW)[1] == secret


# ============================================================================ RFC vectors


def test_rfc7638_and_rfc8037_thumbprints() -> None:
    assert thumbprint(RFC7638_KEY) == RFC7638_THUMBPRINT  # optional members (alg, kid) are ignored
    assert thumbprint(ED_KEY) == ED_THUMBPRINT
    with pytest.raises(JOSEError):
        thumbprint({"kty": "oct", "k": "AA"})


@pytest.mark.parametrize(("jwk", "compact"), [(A2_KEY, A2_JWS), (A3_KEY, A3_JWS), (ED_KEY, ED_JWS)])
def test_rfc_jws_vectors_verify(jwk: dict[str, str], compact: str) -> None:
    key = key_from_jwk(jwk)
    alg, signing_input, sig = split(compact)
    assert verify_signature(alg, key, signing_input, sig)  # type: ignore[arg-type]
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert not verify_signature(alg, key, signing_input, flipped)  # type: ignore[arg-type]
    assert not verify_signature(alg, key, signing_input + b"x", sig)  # type: ignore[arg-type]


def test_rfc8037_signature_is_reproduced() -> None:
    # Ed25519 is deterministic: signing the RFC's input with its key gives the RFC's signature.
    key = key_from_jwk({**ED_KEY, "d": ED_D})
    ours = sign_compact({"alg": "EdDSA"}, b"Example of Ed25519 signing", key)  # type: ignore[arg-type]
    assert ours == ED_JWS


# ============================================================================ joserfc-made tokens

KEYS: dict[str, Any] = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ES512": lambda: ec.generate_private_key(ec.SECP521R1()),
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "RS384": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "PS512": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


def joserfc_sign(alg: str, key: Any, payload: bytes = b'{"sub":"x"}') -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jws.serialize_compact(
            {"alg": alg}, payload, jose_key(key), registry=JWSRegistry(algorithms=[alg])
        )


@pytest.mark.parametrize("alg", list(KEYS))
def test_joserfc_tokens_verify(alg: str) -> None:
    key = KEYS[alg]()
    compact = joserfc_sign(alg, key)
    token = Token.parse(compact)
    token.verify(key.public_key())
    # Another key of the same kind does not verify it.
    with pytest.raises(Unauthorized):
        token.verify(KEYS[alg]().public_key())


@pytest.mark.parametrize("alg", list(KEYS))
def test_our_signatures_verify_with_joserfc(alg: str) -> None:
    key = KEYS[alg]()
    compact = sign_compact({"alg": alg, "kid": "k"}, {"sub": "x"}, key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = jws.deserialize_compact(compact, jose_key(key), algorithms=[alg])
    assert orjson.loads(obj.payload) == {"sub": "x"}


# ============================================================================ algorithm confusion


def test_alg_none_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    body = b64url(b'{"sub":"x"}')
    for alg in ("none", "None", "NONE"):
        tok = Token.parse(f"{b64url(orjson.dumps({'alg': alg}))}.{body}.")
        with pytest.raises(Unauthorized):
            tok.verify(key.public_key())
        assert not verify_signature(alg, key.public_key(), tok.signing_input, b"")


@pytest.mark.parametrize("kty", ["EC", "RSA", "OKP"])
def test_hmac_with_the_public_key_as_secret_is_refused(kty: str) -> None:
    key = {"EC": KEYS["ES256"], "RSA": KEYS["RS256"], "OKP": KEYS["EdDSA"]}[kty]()
    pub = public_jwk(key)
    for secret in (orjson.dumps(pub), thumbprint(pub).encode()):
        for alg, h in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            si = f"{b64url(orjson.dumps({'alg': alg}))}.{b64url(b'{}')}".encode()
            sig = hmac.new(secret, si, h).digest()
            assert not verify_signature(alg, key.public_key(), si, sig)
            with pytest.raises(Unauthorized):
                Token.parse(f"{si.decode()}.{b64url(sig)}").verify(key.public_key())


@pytest.mark.parametrize(
    ("signed_as", "claimed"),
    [("ES256", "ES384"), ("ES384", "ES256"), ("ES256", "RS256"), ("ES256", "EdDSA"), ("RS256", "PS256"),
     ("PS256", "RS256"), ("RS256", "RS384"), ("EdDSA", "ES256"), ("RS256", "ES256")],
)  # fmt: skip
def test_alg_that_does_not_fit_the_signature_or_key_is_refused(signed_as: str, claimed: str) -> None:
    key = KEYS[signed_as]()
    _, si, sig = split(joserfc_sign(signed_as, key))
    assert verify_signature(signed_as, key.public_key(), si, sig)
    assert not verify_signature(claimed, key.public_key(), si, sig)


def test_ecdsa_signature_must_be_raw_r_s() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    compact = joserfc_sign("ES256", key)
    _, si, sig = split(compact)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    der = encode_dss_signature(r, s)
    key.public_key().verify(der, si, ec.ECDSA(hashes.SHA256()))  # the same signature, DER-encoded
    assert not verify_signature("ES256", key.public_key(), si, der)
    assert decode_dss_signature(der) == (r, s)
    assert not verify_signature("ES256", key.public_key(), si, sig[:-1])


def test_sign_compact_refuses_a_mismatched_alg() -> None:
    with pytest.raises(JOSEError):
        sign_compact({"alg": "RS256"}, {}, ec.generate_private_key(ec.SECP256R1()))


# ============================================================================ JWK import/export


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "RS256", "EdDSA"])
def test_jwk_round_trip_matches_joserfc(alg: str) -> None:
    key = KEYS[alg]()
    priv = private_jwk(key)
    ref = jose_key(key).as_dict(private=True)
    assert priv == {k: ref[k] for k in priv}
    again = key_from_jwk(priv)
    assert public_jwk(again) == public_jwk(key)
    pub_only = key_from_jwk(public_jwk(key))
    assert not hasattr(pub_only, "private_bytes")
    assert thumbprint(public_jwk(key)) == jose_key(key).thumbprint()


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "P-256", "x": "AA"},
        {"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},  # not on the curve
        {"kty": "RSA", "n": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "x": "AA"},
        {"kty": "oct", "k": "AA"},
        {},
    ],
)
def test_bad_jwks_are_jose_errors(jwk: dict[str, str]) -> None:
    with pytest.raises(JOSEError):
        key_from_jwk(jwk)


def test_joserfc_key_classes_agree_on_our_public_jwk() -> None:
    # A JWK we publish (kid, alg, use) imports in joserfc and has the same thumbprint as its kid.
    for key in (KEYS["ES256"](), KEYS["RS256"](), KEYS["EdDSA"]()):
        pub = public_jwk(key)
        cls = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}[pub["kty"]]
        assert cls.import_key(pub).thumbprint() == thumbprint(pub)
