"""External Account Binding (RFC 8555 §7.3.4): keys the operator hands out, and the check at newAccount.

Keys live in the shared database (`plica acme eab add|list|remove` writes them there directly from the CA
machine, or through the admin API). A key binds one account, once: the binding is a conditional UPDATE
whose row count decides, so two instances cannot bind the same key twice.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from typing import Any

import orjson

from plica.api import JOSEError, b64url_decode, b64url_encode, thumbprint

from .api.jws import check_alg, parse_flattened
from .model import EABKey
from .problems import malformed, unauthorized
from .store import AcmeStore

HMAC_ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

# Letters and digits only: a key id is typed on command lines (`plica acme eab remove`, certbot's
# --eab-kid), where base64url's '-' at the start read as an option. 32 of 62 symbols: 190 bits.
_KEY_ID_ALPHABET = string.ascii_letters + string.digits
KEY_ID_LENGTH = 32


def new_key_id() -> str:
    """A random EAB key id that a shell or an option parser takes as one plain word."""
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))


async def add_key(store: AcmeStore, provisioner: str, reference: str = "") -> EABKey:
    """A new key; ValueError when the provisioner has a key with this reference already."""
    key = EABKey(
        id=new_key_id(),
        provisioner=provisioner,
        reference=reference,
        hmac_key=b64url_encode(secrets.token_bytes(32)),
        created=int(time.time()),
        account_id=None,
        bound_at=None,
    )
    # The read answers the common case; the unique index decides a race with another request.
    taken = bool(reference) and await store.eab_reference_taken(provisioner, reference)
    if taken or not await store.add_eab_key(key):
        raise ValueError(f"an EAB key with reference {reference!r} already exists for {provisioner!r}")
    return key


async def verify_binding(
    store: AcmeStore, provisioner: str, eab: Any, account_jwk: dict[str, Any], url: str
) -> str:
    """Check the `externalAccountBinding` of a newAccount request; returns the EAB key id to bind."""
    fl = parse_flattened(eab, "externalAccountBinding")
    h = fl.protected
    alg = check_alg(h, HMAC_ALGS, "externalAccountBinding")
    if "nonce" in h:
        raise malformed("the externalAccountBinding protected header must not have a nonce")
    if h.get("url") != url:
        raise unauthorized("the externalAccountBinding url does not match the newAccount URL")
    kid = h.get("kid")
    if not isinstance(kid, str) or not kid:
        raise malformed("the externalAccountBinding protected header needs the EAB key id as kid")
    try:
        inner = b64url_decode(fl.payload_b64)
        inner_jwk = orjson.loads(inner)
        same = isinstance(inner_jwk, dict) and thumbprint(inner_jwk) == thumbprint(account_jwk)
    except (JOSEError, ValueError, KeyError):
        same = False
    if not same:
        raise malformed("the externalAccountBinding payload must be the account's public key (jwk)")
    found = await store.eab_secret(provisioner, kid)
    if found is None:
        raise unauthorized(f"external account binding key {kid!r} does not exist")
    secret, bound_to = found
    mac = hmac.new(b64url_decode(secret), fl.signing_input, HMAC_ALGS[alg]).digest()
    if not hmac.compare_digest(mac, fl.signature):
        raise unauthorized("the externalAccountBinding signature does not verify with that EAB key")
    if bound_to:
        raise unauthorized(f"external account binding key {kid!r} is already bound to an account")
    return kid
