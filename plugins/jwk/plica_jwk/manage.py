"""`plica provisioner add|update --type JWK`: key pairs and the published encrypted private key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from plica.hookspecs import hookimpl
from plica.jose import jwe_encrypt_pbes2, key_from_jwk, private_jwk, public_jwk, thumbprint
from plica.keys import generate


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        click.Option(
            ["--create"],
            is_flag=True,
            default=None,
            help="JWK: create a new key pair; the private key is published encrypted with the password.",
        ),
        click.Option(
            ["--public-key"],
            type=click.Path(exists=True, dir_okay=False),
            help="JWK: use this public key (JWK or PEM file).",
        ),
        click.Option(
            ["--private-key"],
            type=str,
            default=None,
            help='JWK: publish this private key (JWK/JWE file) as encryptedKey; "" removes it.',
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
    if provisioner_type.upper() != "JWK":
        return None
    block = dict(existing or {"type": "JWK", "name": name})
    password: bytes | None = options.get("password")
    if options.get("create"):
        if not password:
            raise click.UsageError(
                "--create needs a password to encrypt the new private key (--password-file)"
            )
        key = generate(options.get("kty") or "EC")
        pub = _public_block(public_jwk(key))
        priv = {**pub, **private_jwk(key)}
        block["key"] = pub
        block["encryptedKey"] = jwe_encrypt_pbes2(orjson.dumps(priv), password)
    elif options.get("public_key"):
        data = Path(options["public_key"]).read_bytes()
        if data.lstrip().startswith(b"{"):
            jwk = orjson.loads(data)
        else:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            jwk = public_jwk(load_pem_public_key(data))  # type: ignore[arg-type]
        block["key"] = _public_block(jwk)
    pk = options.get("private_key")
    if pk is not None:
        if pk == "":
            block.pop("encryptedKey", None)
        else:
            data = Path(pk).read_bytes().strip()
            if data.count(b".") == 4 and not data.startswith(b"{"):
                block["encryptedKey"] = data.decode()
            else:
                if not password:
                    raise click.UsageError("--private-key with a plain JWK needs a password to encrypt it")
                jwk = orjson.loads(data)
                key_from_jwk(jwk)  # validate
                block["encryptedKey"] = jwe_encrypt_pbes2(data, password)
    if "key" not in block:
        raise click.UsageError("a JWK provisioner needs a key: use --create or --public-key")
    return block
