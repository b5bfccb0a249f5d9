"""`plica provisioner add|update --type JWK`: key pairs and the published encrypted private key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from plica.api import (
    JOSEError,
    b64url_decode,
    file_option,
    generate,
    hookimpl,
    jwe_decrypt_pbes2,
    jwe_encrypt_pbes2,
    key_from_jwk,
    need_password,
    private_jwk,
    public_jwk,
    thumbprint,
)

# When neither --password-file nor a terminal gives the password to encrypt the private key with.
NO_PASSWORD = "a password is needed to encrypt the provisioner private key (--password-file)"


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        click.Option(
            ["--create"],
            is_flag=True,
            default=None,
            help="JWK: create a new key pair; the private key is published encrypted with the password.",
        ),
        file_option("--public-key", help="JWK: use this public key (JWK or PEM file)."),
        click.Option(
            ["--private-key"],
            type=str,
            default=None,
            help="JWK: publish this private key as encryptedKey: a JWE (compact or JSON, published as is) or a "
            'JWK/PEM private key (encrypted with --password-file); "" removes the published key.',
        ),
        click.Option(
            ["--kty"],
            type=click.Choice(["EC", "RSA", "OKP"]),
            default=None,
            help="JWK: key type for --create (default EC P-256).",
        ),
    ]


def _public_block(jwk: dict[str, Any]) -> dict[str, Any]:
    pub = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}
    alg = {
        "EC": {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(jwk.get("crv", ""), "ES256"),
        "RSA": "RS256",
        "OKP": "EdDSA",
    }[jwk["kty"]]
    return {"use": "sig", "kid": thumbprint(pub), "alg": alg, **pub}


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    """add: --create (new key pair), or --public-key [--private-key]; update: the same flags rekey
    (--create), replace the public key, or replace/remove (--private-key "") the published encryptedKey
    (docs/reference/provisioners.md: password change, rekey, remove the private key)."""
    block = dict(existing or {"type": "JWK", "name": name})
    pk = options.get("private_key")
    if options.get("create"):
        if pk is not None or options.get("public_key"):
            raise click.UsageError(
                "--create makes a new key pair: it cannot be combined with --public-key or --private-key"
            )
        password = _password(options, "Please enter a password to encrypt the new provisioner private key")
        key = generate(options.get("kty") or "EC")
        pub = _public_block(public_jwk(key))
        priv = {**pub, **private_jwk(key)}
        block["key"] = pub
        block["encryptedKey"] = jwe_encrypt_pbes2(orjson.dumps(priv), password)
        return block
    if options.get("public_key"):
        old = block.get("key") if isinstance(block.get("key"), dict) else None
        block["key"] = _public_block(_read_public_jwk(options["public_key"]))
        if old is not None and old.get("kid") != block["key"]["kid"] and pk is None:
            # The old encryptedKey belongs to the old key: clients would make tokens the CA refuses.
            block.pop("encryptedKey", None)
    if pk == "":
        block.pop("encryptedKey", None)
    elif pk is not None:
        _set_private_key(block, Path(pk), options)
    if "key" not in block:
        raise click.UsageError("a JWK provisioner needs a key: use --create, --public-key or --private-key")
    return block


def _password(options: dict[str, Any], message: str) -> bytes:
    return need_password(options.get("password"), options.get("prompt"), message, missing=NO_PASSWORD)


def _read_public_jwk(path: str) -> dict[str, Any]:
    data = Path(path).read_bytes()
    if data.lstrip().startswith(b"{"):
        jwk = orjson.loads(data)
        if not isinstance(jwk, dict):
            raise click.BadParameter(f"{path} is not a JWK", param_hint="--public-key")
        return public_jwk(key_from_jwk(jwk))
    return public_jwk(load_pem_public_key(data))  # type: ignore[arg-type]


def _set_private_key(block: dict[str, Any], path: Path, options: dict[str, Any]) -> None:
    """--private-key FILE: a JWE (compact, or JSON serialization as `plica crypto jwe encrypt` writes it)
    is published as is; a plain JWK or PEM private key is encrypted with the password first. When the
    private key can be read, its public half must be the provisioner's key (or becomes it, on add)."""
    try:
        data = path.read_bytes().strip()
    except OSError as e:
        raise click.BadParameter(f"cannot read {path}: {e.strerror}", param_hint="--private-key") from None
    jwe = _as_compact_jwe(data)
    password: bytes | None = options.get("password")
    if jwe is not None:
        header = orjson.loads(b64url_decode(jwe.split(".", 1)[0]))
        if not str(header.get("alg", "")).startswith("PBES2-"):
            raise click.BadParameter(
                f"{path}: the JWE must be password-encrypted (alg PBES2-*), not {header.get('alg')!r}",
                param_hint="--private-key",
            )
        private: dict[str, Any] | None = None
        if password:
            try:
                _, plaintext = jwe_decrypt_pbes2(jwe, password)
            except JOSEError as e:
                raise click.BadParameter(f"{path}: {e}", param_hint="--private-key") from None
            private = orjson.loads(plaintext)
        _check_or_take_public(block, private, path)
        block["encryptedKey"] = jwe
        return
    if data.startswith(b"-----BEGIN"):
        try:
            key = load_pem_private_key(data, password=None)
        except (TypeError, ValueError) as e:
            raise click.BadParameter(f"{path}: not an unencrypted PEM private key ({e})") from None
        private = private_jwk(key)  # type: ignore[arg-type]
    else:
        try:
            private = orjson.loads(data)
            key_from_jwk(private)
        except (orjson.JSONDecodeError, JOSEError) as e:
            raise click.BadParameter(f"{path}: not a JWK, JWE or PEM private key ({e})") from None
    if "d" not in private:
        raise click.BadParameter(f"{path} holds a public key, not a private key", param_hint="--private-key")
    _check_or_take_public(block, private, path)
    pub = block["key"]
    plaintext = orjson.dumps({**pub, **{k: v for k, v in private.items() if k not in ("use", "alg", "kid")}})
    block["encryptedKey"] = jwe_encrypt_pbes2(
        plaintext, _password(options, "Please enter a password to encrypt the provisioner private key")
    )


def _check_or_take_public(block: dict[str, Any], private: dict[str, Any] | None, path: Path) -> None:
    if private is None:
        if "key" not in block:
            raise click.UsageError(
                f"{path} is encrypted: give --public-key, or --password-file so its public key can be read"
            )
        return
    try:
        pub = public_jwk(key_from_jwk(private))
    except JOSEError as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="--private-key") from None
    current = block.get("key")
    if isinstance(current, dict) and current.get("kty"):
        if thumbprint(current) != thumbprint(pub):
            raise click.BadParameter(
                f"{path} is not the private key of provisioner {block.get('name')!r} (kid "
                f"{current.get('kid')!r}); use --create to rekey",
                param_hint="--private-key",
            )
        return
    block["key"] = _public_block(pub)


def _as_compact_jwe(data: bytes) -> str | None:
    if data.startswith(b"{"):
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if isinstance(obj, dict) and "ciphertext" in obj:
            try:
                return _jwe_compact_from_json(obj)
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--private-key") from None
        return None
    text = data.decode("ascii", "replace")
    return text if text.count(".") == 4 else None


def _jwe_compact_from_json(obj: dict[str, Any]) -> str:
    """RFC 7516 §7.2 JSON serialization (flattened or general with one recipient) → compact."""
    recipients = obj.get("recipients")
    if recipients is not None:
        if not isinstance(recipients, list) or len(recipients) != 1 or not isinstance(recipients[0], dict):
            raise ValueError("a JWE for one password has exactly one recipient")
        obj = {**obj, **recipients[0]}
    if obj.get("unprotected") or obj.get("header") or obj.get("aad"):
        raise ValueError("this JWE has unprotected headers or AAD, which a compact JWE cannot carry")
    parts = [obj.get(k) for k in ("protected", "encrypted_key", "iv", "ciphertext", "tag")]
    if not all(isinstance(p, str) for p in parts):
        raise ValueError("not a JWE JSON serialization (protected, encrypted_key, iv, ciphertext, tag)")
    return ".".join(parts)  # type: ignore[arg-type]
