"""PKCS#11 URIs (RFC 7512) read as step-ca reads them.

`pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=plica?pin-value=1234` names a module, a token
(`token` label, `serial` or `slot-id`) and a PIN (`pin-value`, or `pin-source=file:/path`); a key is
`pkcs11:id=7331;object=intermediate-key`. As step's `GetEncoded`: an `id` of even length that is valid hex
is those bytes (7331 → 0x73 0x31), otherwise its characters.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from attrs import frozen

from plica.api import ConfigError, redact_uri


@frozen
class P11URI:
    raw: str
    attrs: dict[str, str]

    def get(self, name: str) -> str:
        return self.attrs.get(name, "")

    @property
    def shown(self) -> str:
        """The URI as errors and logs show it: without a `pin-value`."""
        return redact_uri(self.raw)


def parse(raw: str, what: str = "ca.json.kms.uri") -> P11URI:
    scheme, sep, rest = raw.partition(":")
    if not sep or scheme.lower() != "pkcs11":
        raise ConfigError(what, f"{redact_uri(raw)!r} is not a pkcs11: URI (RFC 7512)")
    path, _, query = rest.partition("?")
    attrs: dict[str, str] = {}
    for part in [*path.split(";"), *query.split("&")]:
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise ConfigError(what, f"{redact_uri(raw)!r}: attribute {name!r} has no value")
        attrs.setdefault(name.strip().lower(), urllib.parse.unquote(value))
    return P11URI(raw=raw, attrs=attrs)


def encoded(value: str) -> bytes:
    if value and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    return value.encode()


def object_of(uri: P11URI, what: str) -> tuple[bytes | None, str | None]:
    """(id, label) of a key URI; at least one of them is required."""
    key_id = encoded(uri.get("id")) or None
    label = uri.get("object") or None
    if key_id is None and label is None:
        raise ConfigError(what, f"key {uri.shown!r} names no object: give id= and/or object=")
    return key_id, label


def pin_of(uri: P11URI) -> str:
    """The PIN of a kms URI: `pin-value`, or the first line of the `pin-source` file."""
    value = uri.get("pin-value")
    if value:
        return value
    source = uri.get("pin-source")
    if source:
        path = urllib.parse.urlparse(source).path if source.startswith("file:") else source
        try:
            return Path(path).read_text().rstrip()
        except OSError as e:
            raise ConfigError(
                "ca.json.kms.uri", f"{uri.shown}: cannot read pin-source {path}: {e.strerror}"
            ) from None
    raise ConfigError("ca.json.kms.uri", f"{uri.shown}: no PIN: add pin-value= or pin-source=file:...")
