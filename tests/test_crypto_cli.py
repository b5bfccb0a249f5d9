"""`plica crypto jwe|jose` and the JWK key procedures of docs/reference/provisioners.md, step by step with Plica's
commands against the real server: add --create, change the password (decrypt | encrypt | format, then
update --private-key), rekey (update --create), remove the published key (update --private-key "") and
keep issuing with `plica certificate --key`. A certificate is issued after every step, and openssl checks
it. Interop: joserfc (a third-party JOSE library) reads what we write and we read what it writes; the
spec's own encryptedKey (password `asdf`) is a recorded step vector."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from joserfc import jwe
from joserfc.jwk import OctKey

from plica.jose import b64url_decode, jwe_decrypt_pbes2, key_from_jwk, public_jwk, thumbprint
from plica.testing import CAFiles, ca_process, client_context, make_ca

pytestmark = pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")

# docs/reference/provisioners.md, "JWK": the example provisioner's encryptedKey and what `step crypto jwe decrypt`
# shows for it with the password asdf.
SPEC_ENCRYPTED_KEY = (
    "eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJjdHkiOiJqd2sranNvbiIsImVuYyI6IkEyNTZHQ00iLCJwMmMiOjEwMDAwMCwicDJzIjoiTlV6"
    "MjlEb3hKMVdOaFI3dUNjaGdYZyJ9.YN7xhz6RAbz_9bcuXoymBOj8bOg23ETAdmSCRyHpxGekkV0q3STYYg.vo1oBnZsZjgRu5Ln.Xop8AvZ74h_"
    "im2jxeaq-hYYWnaK_eF7MGr4xcZGodMUxp-hGPqS85oWkyprkQLYt1-jXTURfpejtmPeB4-sxgj7OFxMYYus84BdkG9BZgSBmMN9SqZItOv4pqg"
    "_NwQA0bv9g9A_e-N6QUFanxuYQsEPX_-IwWBDbNKyN9bXbpEQa0FKNVsTvFahGzOxQngXipi265VADkh8MJLjYerplKIbNeOJJbLd9CbS9fceLvQ"
    "UNr3ACGgAejSaWmeNUVqbho1lY4882iS8QVx1VzjluTXlAMdSUUDHArHEihz008kCyF0YfvNdGebyEDLvTmF6KkhqMpsWn3zASYBidc9k._ch9B"
    "tvRRhcLD838itIQlw"
)
SPEC_PRIVATE_JWK = {
    "use": "sig",
    "kty": "EC",
    "kid": "NPM_9Gz_omTqchS6Xx9Yfvs-EuxkYo6VAk4sL7gyyM4",
    "crv": "P-256",
    "alg": "ES256",
    "x": "bBI5AkO9lwvDuWGfOr0F6ttXC-ZRzJo8kKn5wTzRJXI",
    "y": "rcfaqE-EEZgs34Q9SSH3f9Ua5a8dKopXNfEzDD8KRlU",
    "d": "rsjCCM_2FQ-uk7nywBEQHl84oaPo4mTpYDgXAu63igE",
}
SPEC_FILE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "provisioners.md"


def plica(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "plica", *args], input=stdin, capture_output=True, env=env, timeout=120
    )


def ok(res: subprocess.CompletedProcess[bytes]) -> bytes:
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout


def secret(tmp: Path, name: str, value: str) -> str:
    p = tmp / name
    p.write_text(value)
    return str(p)


# ============================================================================ the recorded vector


def test_spec_encrypted_key_decrypts_with_asdf(tmp_path: Path) -> None:
    assert SPEC_ENCRYPTED_KEY in SPEC_FILE.read_text()
    out = ok(plica("crypto", "jwe", "decrypt", "--password-file", secret(tmp_path, "pw", "asdf"),
                   stdin=SPEC_ENCRYPTED_KEY.encode()))  # fmt: skip
    jwk = orjson.loads(out)
    assert jwk == SPEC_PRIVATE_JWK
    # the private key belongs to the example's public key, whose kid is its RFC 7638 thumbprint
    assert public_jwk(key_from_jwk(jwk)) == {k: jwk[k] for k in ("kty", "crv", "x", "y")}
    assert thumbprint(jwk) == jwk["kid"]
    wrong = plica("crypto", "jwe", "decrypt", "--password-file", secret(tmp_path, "bad", "asdg"),
                  stdin=SPEC_ENCRYPTED_KEY.encode())  # fmt: skip
    assert wrong.returncode == 1
    assert b"wrong password" in wrong.stderr and b"Traceback" not in wrong.stderr


# ============================================================================ interop with joserfc


@pytest.mark.parametrize("alg", ["PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW"])
def test_encrypt_is_read_by_joserfc_and_format_round_trips(tmp_path: Path, alg: str) -> None:
    pw = secret(tmp_path, "pw", "correct horse")
    plaintext = orjson.dumps(SPEC_PRIVATE_JWK)
    as_json = ok(plica("crypto", "jwe", "encrypt", "--alg", alg, "--password-file", pw, stdin=plaintext))
    obj = orjson.loads(as_json)
    assert set(obj) == {"protected", "encrypted_key", "iv", "ciphertext", "tag"}
    header = orjson.loads(b64url_decode(obj["protected"]))
    assert header["alg"] == alg and header["enc"] == "A256GCM" and header["cty"] == "jwk+json"
    key = OctKey.import_key(b"correct horse")
    assert jwe.decrypt_json(obj, key, algorithms=[alg, "A256GCM"]).plaintext == plaintext
    compact = ok(plica("crypto", "jose", "format", stdin=as_json)).strip()
    assert compact.count(b".") == 4
    assert jwe.decrypt_compact(compact, key, algorithms=[alg, "A256GCM"]).plaintext == plaintext
    back = ok(plica("crypto", "jose", "format", stdin=compact))
    assert orjson.loads(back) == obj
    # and our decrypt reads both forms
    for form in (as_json, compact):
        assert ok(plica("crypto", "jwe", "decrypt", "--password-file", pw, stdin=form)) == plaintext


@pytest.mark.parametrize(
    ("alg", "enc"), [("PBES2-HS256+A128KW", "A256GCM"), ("PBES2-HS512+A256KW", "A128GCM")]
)
def test_decrypt_reads_joserfc_output(tmp_path: Path, alg: str, enc: str) -> None:
    key = OctKey.import_key(b"s3cret-pass")
    token = jwe.encrypt_compact({"alg": alg, "enc": enc}, b"hello plica", key, algorithms=[alg, enc])
    out = ok(plica("crypto", "jwe", "decrypt", "--password-file", secret(tmp_path, "pw", "s3cret-pass"),
                   stdin=token.encode()))  # fmt: skip
    assert out == b"hello plica"


def test_format_converts_a_jws_too() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from plica.jose import sign_compact

    jws = sign_compact({"alg": "ES256"}, {"sub": "x"}, ec.generate_private_key(ec.SECP256R1()))
    obj = orjson.loads(ok(plica("crypto", "jose", "format", stdin=jws.encode())))
    assert set(obj) == {"protected", "payload", "signature"}
    assert ok(plica("crypto", "jose", "format", stdin=orjson.dumps(obj))).strip().decode() == jws


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    for args, stdin, want in [
        (["crypto", "jose", "format"], b"not.jose", b"not a compact JWS"),
        (["crypto", "jose", "format"], b'{"foo": 1}', b"not a JWS or JWE"),
        (
            ["crypto", "jwe", "decrypt", "--password-file", secret(tmp_path, "pw", "x")],
            b"a.b.c",
            b"not a JWE",
        ),
        (["crypto", "jwe", "encrypt", "--alg", "RSA-OAEP"], b"x", b"Invalid value for '--alg'"),
    ]:
        res = plica(*args, stdin=stdin)
        assert res.returncode != 0
        assert want in res.stderr, res.stderr
        assert b"Traceback" not in res.stderr


# ============================================================================ the spec's procedures


def _get(files: CAFiles, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(files.url + path, context=client_context(files), timeout=10) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def _published(files: CAFiles, name: str) -> dict[str, Any] | None:
    _, body = _get(files, "/provisioners?limit=100")
    return next((p for p in body["provisioners"] if p["name"] == name), None)


def _wait_until(pred: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _certificate(files: CAFiles, tmp: Path, name: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
    crt, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    for p in (crt, key):
        p.unlink(missing_ok=True)
    res = plica("certificate", name, str(crt), str(key), "--provisioner", "jane@example.com", *extra,
                env=files.env())  # fmt: skip
    if res.returncode == 0:
        # a real peer checks the chain
        v = subprocess.run(["openssl", "verify", "-CAfile", str(files.root), "-untrusted", str(files.intermediate),
                            str(crt)], capture_output=True)  # fmt: skip
        assert v.returncode == 0, v.stdout + v.stderr
    return res


def _extract_encrypted_key(files: CAFiles, name: str) -> bytes:
    """Step 1 of 'Changing a JWK provisioner password': the list piped through jq, as the spec does."""
    listing = ok(plica("provisioner", "list", env=files.env()))
    jq = shutil.which("jq")
    if jq:
        res = subprocess.run([jq, "-r", f'.[] | select(.name == "{name}").encryptedKey'], input=listing,
                             capture_output=True, check=True)  # fmt: skip
        return res.stdout.strip()
    return next(p for p in orjson.loads(listing) if p["name"] == name)["encryptedKey"].encode()


def test_jwk_key_procedures_step_by_step(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    env = files.env()
    pw1 = secret(tmp_path, "pw1", "first password")
    pw2 = secret(tmp_path, "pw2", "second password")
    pw3 = secret(tmp_path, "pw3", "third password")
    with ca_process(files):
        # ---- Add a JWK provisioner: `step ca provisioner add <name> --create`
        ok(
            plica(
                "provisioner",
                "add",
                "jane@example.com",
                "--create",
                "--password-file",
                pw1,
                "--reload",
                env=env,
            )
        )
        _wait_until(lambda: _published(files, "jane@example.com") is not None, "the new provisioner")
        ok(_certificate(files, tmp_path, "a.example.com", "--password-file", pw1))

        # ---- Decrypting the private key (the spec's first listing)
        old_encrypted = _extract_encrypted_key(files, "jane@example.com")
        private = orjson.loads(
            ok(plica("crypto", "jwe", "decrypt", "--password-file", pw1, stdin=old_encrypted))
        )
        first_kid = _published(files, "jane@example.com")["key"]["kid"]  # type: ignore[index]
        assert private["kid"] == first_kid and "d" in private

        # ---- Changing a JWK provisioner password: decrypt | encrypt | format, then update --private-key
        new_encrypted = ok(plica("crypto", "jose", "format", stdin=ok(plica(
            "crypto", "jwe", "encrypt", "--alg", "PBES2-HS256+A128KW", "--password-file", pw2,
            stdin=ok(plica("crypto", "jwe", "decrypt", "--password-file", pw1, stdin=old_encrypted)),
        ))))  # fmt: skip
        key_file = tmp_path / "encrypted.jwe"
        key_file.write_bytes(new_encrypted.strip())
        ok(
            plica(
                "provisioner",
                "update",
                "jane@example.com",
                "--private-key",
                str(key_file),
                "--reload",
                env=env,
            )
        )
        _wait_until(
            lambda: _published(files, "jane@example.com")["encryptedKey"] == new_encrypted.strip().decode(),  # type: ignore[index]
            "the re-encrypted key",
        )
        assert _published(files, "jane@example.com")["key"]["kid"] == first_kid  # type: ignore[index]
        ok(_certificate(files, tmp_path, "b.example.com", "--password-file", pw2))
        refused = _certificate(files, tmp_path, "c.example.com", "--password-file", pw1)
        assert refused.returncode != 0 and b"wrong password" in refused.stderr

        # ---- Rekeying a JWK provisioner: update --create
        ok(
            plica(
                "provisioner",
                "update",
                "jane@example.com",
                "--create",
                "--password-file",
                pw3,
                "--reload",
                env=env,
            )
        )
        _wait_until(lambda: _published(files, "jane@example.com")["key"]["kid"] != first_kid, "the new key")  # type: ignore[index]
        ok(_certificate(files, tmp_path, "d.example.com", "--password-file", pw3))
        # a token signed with the old key no longer belongs to the provisioner
        old_key = tmp_path / "old.jwk"
        old_key.write_bytes(orjson.dumps(private))
        stale = _certificate(files, tmp_path, "e.example.com", "--key", str(old_key))
        assert stale.returncode != 0 and b"401" in stale.stderr, stale.stderr

        # ---- Removing the encrypted private key: update --private-key ""; issue with --key
        current = orjson.loads(ok(plica("crypto", "jwe", "decrypt", "--password-file", pw3,
                                        stdin=_extract_encrypted_key(files, "jane@example.com"))))  # fmt: skip
        kid = current["kid"]
        ok(plica("provisioner", "update", "jane@example.com", "--private-key", "", "--reload", env=env))
        _wait_until(lambda: "encryptedKey" not in _published(files, "jane@example.com"), "the key removal")  # type: ignore[operator]
        status, _ = _get(files, f"/provisioners/{kid}/encrypted-key")
        assert status == 404
        without = _certificate(files, tmp_path, "f.example.com", "--password-file", pw3)
        assert without.returncode != 0 and b"--key" in without.stderr
        key_path = tmp_path / "jane.jwk"
        key_path.write_bytes(orjson.dumps(current))
        os.chmod(key_path, 0o600)
        ok(_certificate(files, tmp_path, "g.example.com", "--key", str(key_path)))


def test_private_key_that_does_not_match_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("plica_jwk")
    files = make_ca(tmp_path)
    env = files.env()
    pw = secret(tmp_path, "pw", "pw")
    before = files.config_path.read_bytes()
    other = tmp_path / "other.jwk"
    other.write_bytes(orjson.dumps(SPEC_PRIVATE_JWK))
    res = plica("provisioner", "update", "admin", "--private-key", str(other), "--password-file", pw, env=env)
    assert res.returncode != 0 and b"is not the private key of provisioner 'admin'" in res.stderr
    # an encrypted key is checked when the password is given
    enc = tmp_path / "spec.jwe"
    enc.write_text(SPEC_ENCRYPTED_KEY)
    res = plica("provisioner", "update", "admin", "--private-key", str(enc), "--password-file",
                secret(tmp_path, "asdf", "asdf"), env=env)  # fmt: skip
    assert res.returncode != 0 and b"is not the private key" in res.stderr
    assert files.config_path.read_bytes() == before
    # --private-key with the spec's encrypted key on a new provisioner takes its public key from it
    ok(plica("provisioner", "add", "spec@example.com", "--private-key", str(enc), "--password-file",
             secret(tmp_path, "asdf2", "asdf"), env=env))  # fmt: skip
    block = next(p for p in files.config()["authority"]["provisioners"] if p["name"] == "spec@example.com")
    assert block["key"]["kid"] == SPEC_PRIVATE_JWK["kid"]
    assert block["encryptedKey"] == SPEC_ENCRYPTED_KEY
    _, plaintext = jwe_decrypt_pbes2(block["encryptedKey"], b"asdf")
    assert orjson.loads(plaintext)["d"] == SPEC_PRIVATE_JWK["d"]
