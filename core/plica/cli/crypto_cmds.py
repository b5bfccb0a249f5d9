"""`plica crypto jwe encrypt|decrypt` and `plica crypto jose format`: the pieces of step's procedure for
changing a JWK provisioner's password (docs/reference/provisioners.md), as filters on stdin/stdout:

    plica provisioner list | jq -r '.[] | select(.name == "admin").encryptedKey' \\
      | plica crypto jwe decrypt | plica crypto jwe encrypt --alg PBES2-HS256+A128KW | plica crypto jose format

Like step, `jwe encrypt` writes the JWE JSON serialization and `jose format` turns JSON into compact (and
compact into JSON). Passwords come from --password-file or are asked for on the terminal (/dev/tty), since
stdin carries the data.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

import click
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from plica.cli.common import read_password_file

# _pbes2_kek: the same derivation the decrypting side uses
from plica.jose import JOSEError, _pbes2_kek, b64url_decode, b64url_encode, jwe_decrypt_pbes2

PBES2_ALGS = {"PBES2-HS256+A128KW": 16, "PBES2-HS384+A192KW": 24, "PBES2-HS512+A256KW": 32}
GCM_ENCS = {"A128GCM": 128, "A192GCM": 192, "A256GCM": 256}
DEFAULT_P2C = 100_000  # what step writes for provisioner keys


@click.group("crypto")
def crypto_group() -> None:
    """JOSE helpers: encrypt and decrypt JWEs with a password, convert between JSON and compact forms."""


@crypto_group.group("jwe")
def jwe_group() -> None:
    """Password-based JWE (PBES2 key wrapping, AES-GCM content encryption)."""


@crypto_group.group("jose")
def jose_group() -> None:
    """Generic JOSE (JWS/JWE) helpers."""


def _read_stdin() -> bytes:
    data = sys.stdin.buffer.read()
    if not data.strip():
        raise click.UsageError("nothing to read on standard input")
    return data


def _password(password_file: str | None, message: str, *, confirm: bool) -> bytes:
    pw = read_password_file(password_file)
    if pw is not None:
        return pw
    try:
        first = getpass.getpass(message + " ")
        if confirm and getpass.getpass("Confirm the password: ") != first:
            raise click.ClickException("the passwords do not match")
    except (EOFError, OSError):
        raise click.UsageError("no terminal to ask for the password: give --password-file") from None
    if not first:
        raise click.UsageError("the password cannot be empty")
    return first.encode()


# ============================================================================ compact <-> JSON


def compact_from_json(obj: dict[str, Any]) -> str:
    """RFC 7515 §7.2 / RFC 7516 §7.2 JSON serialization (flattened, or general with one signature or one
    recipient) → compact serialization."""
    if "ciphertext" in obj:
        recipients = obj.get("recipients")
        if recipients is not None:
            if (
                not isinstance(recipients, list)
                or len(recipients) != 1
                or not isinstance(recipients[0], dict)
            ):
                raise click.ClickException("a JWE with several recipients has no compact serialization")
            obj = {**obj, **recipients[0]}
        if obj.get("unprotected") or obj.get("header") or obj.get("aad"):
            raise click.ClickException(
                "this JWE has unprotected headers or AAD, which the compact serialization cannot carry"
            )
        keys = ("protected", "encrypted_key", "iv", "ciphertext", "tag")
    elif "payload" in obj:
        sigs = obj.get("signatures")
        if sigs is not None:
            if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict):
                raise click.ClickException("a JWS with several signatures has no compact serialization")
            obj = {**obj, **sigs[0]}
        if obj.get("header"):
            raise click.ClickException(
                "this JWS has an unprotected header, which the compact serialization cannot carry"
            )
        keys = ("protected", "payload", "signature")
    else:
        raise click.ClickException("not a JWS or JWE JSON serialization")
    parts = [obj.get(k, "") for k in keys]
    if not all(isinstance(p, str) for p in parts):
        raise click.ClickException("malformed JOSE JSON serialization: its members must be strings")
    return ".".join(parts)


def json_from_compact(text: str) -> dict[str, Any]:
    parts = text.split(".")
    if len(parts) == 5:
        return dict(zip(("protected", "encrypted_key", "iv", "ciphertext", "tag"), parts, strict=True))
    if len(parts) == 3:
        return dict(zip(("protected", "payload", "signature"), parts, strict=True))
    raise click.ClickException("not a compact JWS (3 parts) or JWE (5 parts)")


def _as_compact_jwe(data: bytes) -> str:
    text = data.strip()
    if text.startswith(b"{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise click.ClickException(f"invalid JSON on standard input: {e}") from None
        if not isinstance(obj, dict) or "ciphertext" not in obj:
            raise click.ClickException("standard input is JSON but not a JWE")
        return compact_from_json(obj)
    compact = text.decode("ascii", "replace")
    if compact.count(".") != 4:
        raise click.ClickException("standard input is not a JWE (compact or JSON serialization)")
    return compact


# ============================================================================ commands


@jose_group.command("format")
def format_cmd() -> None:
    """Convert a JWS/JWE between its JSON serialization and its compact serialization (either way)."""
    data = _read_stdin().strip()
    if data.startswith(b"{"):
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise click.ClickException(f"invalid JSON on standard input: {e}") from None
        if not isinstance(obj, dict):
            raise click.ClickException("not a JWS or JWE JSON serialization")
        click.echo(compact_from_json(obj))
    else:
        click.echo(orjson.dumps(json_from_compact(data.decode("ascii", "replace"))).decode())


@jwe_group.command("decrypt")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Password that decrypts the content encryption key (default: asked on the terminal).",
)
def decrypt_cmd(password_file: str | None) -> None:
    """Decrypt a password-encrypted JWE (compact or JSON) read from stdin; write the plaintext to stdout."""
    jwe = _as_compact_jwe(_read_stdin())
    try:
        header = orjson.loads(b64url_decode(jwe.split(".", 1)[0]))
    except (JOSEError, orjson.JSONDecodeError):
        raise click.ClickException("invalid JWE protected header") from None
    if not isinstance(header, dict) or header.get("alg") not in PBES2_ALGS:
        alg = header.get("alg") if isinstance(header, dict) else None
        raise click.ClickException(
            f"unsupported JWE algorithm {alg!r}: only password-based PBES2 is supported"
        )
    password = _password(
        password_file, "Please enter the password to decrypt the content encryption key:", confirm=False
    )
    try:
        _, plaintext = jwe_decrypt_pbes2(jwe, password)
    except JOSEError as e:
        raise click.ClickException(str(e)) from None
    sys.stdout.buffer.write(plaintext)
    sys.stdout.buffer.flush()


@jwe_group.command("encrypt")
@click.option(
    "--alg",
    required=True,
    type=click.Choice(sorted(PBES2_ALGS)),
    help="Key management algorithm (step's provisioner keys use PBES2-HS256+A128KW).",
)
@click.option(
    "--enc", type=click.Choice(sorted(GCM_ENCS)), default="A256GCM", show_default=True, help="Content cipher."
)
@click.option("--cty", help='Content type header (default "jwk+json" when the input is a JWK).')
@click.option("--typ", help="Type header.")
@click.option(
    "--p2c",
    type=click.IntRange(1000, 10_000_000),
    default=DEFAULT_P2C,
    show_default=True,
    help="PBKDF2 iterations.",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Password to encrypt with (default: asked on the terminal, twice).",
)
def encrypt_cmd(
    alg: str, enc: str, cty: str | None, typ: str | None, p2c: int, password_file: str | None
) -> None:
    """Encrypt stdin with a password; write the JWE JSON serialization (use `plica crypto jose format`
    for the compact form)."""
    plaintext = _read_stdin()
    if cty is None:
        try:
            obj = orjson.loads(plaintext)
            cty = "jwk+json" if isinstance(obj, dict) and "kty" in obj else None
        except orjson.JSONDecodeError:
            cty = None
    password = _password(password_file, "Please enter the password to encrypt the content:", confirm=True)
    click.echo(
        orjson.dumps(
            encrypt_pbes2_json(plaintext, password, alg=alg, enc=enc, cty=cty, typ=typ, p2c=p2c)
        ).decode()
    )


def encrypt_pbes2_json(
    plaintext: bytes,
    password: bytes,
    *,
    alg: str,
    enc: str = "A256GCM",
    cty: str | None = None,
    typ: str | None = None,
    p2c: int = DEFAULT_P2C,
) -> dict[str, str]:
    """RFC 7518 §4.8 PBES2 key wrapping + §5.3 AES-GCM, as a flattened JSON serialization."""
    p2s = os.urandom(16)
    header: dict[str, Any] = {"alg": alg, "enc": enc, "p2c": p2c, "p2s": b64url_encode(p2s)}
    if cty:
        header["cty"] = cty
    if typ:
        header["typ"] = typ
    kek = _pbes2_kek(password, alg, p2s, p2c)
    cek = AESGCM.generate_key(GCM_ENCS[enc])
    iv = os.urandom(12)
    protected = b64url_encode(orjson.dumps(header))
    sealed = AESGCM(cek).encrypt(iv, plaintext, protected.encode("ascii"))
    return {
        "protected": protected,
        "encrypted_key": b64url_encode(aes_key_wrap(kek, cek)),
        "iv": b64url_encode(iv),
        "ciphertext": b64url_encode(sealed[:-16]),
        "tag": b64url_encode(sealed[-16:]),
    }
