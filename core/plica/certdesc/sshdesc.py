"""step's JSON SSH certificate description (`sshutil.Certificate`, docs/reference/step-templates.md §2).

The rendered template is decoded with the same Go `encoding/json` rules as the X.509 description, except
that `principals` must be a JSON array (no MultiString here). `apply` copies type, key id, principals,
extensions and critical options onto a `cryptography` `SSHCertificateBuilder`; the caller owns validity,
serial, nonce, public key and signing (§2.3).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType

from .errors import DescriptionError
from .gojson import (
    Decoder,
    dec_bytes,
    dec_string,
    dec_string_list,
    dec_string_map,
    dec_time,
    dec_uint64,
    decode_certificate,
    tuple_of,
    type_error,
)

USER = "user"
HOST = "host"


def _dec_cert_type(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise type_error(value, path, "sshutil.CertType")
    kind = value.lower()
    if kind not in (USER, HOST):
        raise DescriptionError(f"error unmarshaling '{value}' as a certificate type")
    return kind


_SSH_FIELDS: dict[str, tuple[str, Decoder]] = {
    "nonce": ("nonce", dec_bytes),
    "serial": ("serial", dec_uint64),
    "type": ("type", _dec_cert_type),
    "keyId": ("key_id", dec_string),
    "principals": ("principals", tuple_of(dec_string_list)),
    "validAfter": ("valid_after", dec_time),
    "validBefore": ("valid_before", dec_time),
    "criticalOptions": ("critical_options", dec_string_map),
    "extensions": ("extensions", dec_string_map),
    "reserved": ("reserved", dec_bytes),
}


@attrs.frozen
class SSHDescription:
    """The decoded JSON description of an SSH certificate.

    `type` is "user", "host" or None (absent); `serial` 0 and empty `nonce` mean "let the CA choose".
    Empty `principals` means a certificate valid for any principal.
    """

    type: str | None = None
    key_id: str = ""
    principals: tuple[str, ...] = ()
    extensions: dict[str, str] = attrs.field(factory=dict)
    critical_options: dict[str, str] = attrs.field(factory=dict)
    valid_after: dt.datetime | None = None
    valid_before: dt.datetime | None = None
    serial: int = 0
    nonce: bytes = b""
    reserved: bytes = b""
    template: str = attrs.field(default="template", eq=False)

    @classmethod
    def from_json(cls, text: str, *, template: str = "template") -> SSHDescription:
        """Decode rendered template output (the first JSON value only) with Go's rules."""
        fields = decode_certificate(text, _SSH_FIELDS, "sshutil.Certificate", template=template)
        return cls(**fields, template=template)

    @property
    def cert_type(self) -> SSHCertificateType:
        if self.type is None:
            raise DescriptionError("ssh certificate type has not been set", template=self.template)
        return SSHCertificateType.USER if self.type == USER else SSHCertificateType.HOST

    def apply(self, builder: SSHCertificateBuilder) -> SSHCertificateBuilder:
        """Set type, key id, principals, critical options and extensions on `builder`.

        OpenSSH wants both maps sorted by name; cryptography sorts them when it serialises. An empty key
        id is left to the CA's validators ("ssh certificate key id cannot be empty").
        """
        cert_type = self.cert_type
        try:
            builder = builder.type(cert_type).key_id(self.key_id.encode("utf-8"))
            if self.principals:
                builder = builder.valid_principals([p.encode("utf-8") for p in self.principals])
            else:
                builder = builder.valid_for_all_principals()
            for name, value in sorted(self.critical_options.items()):
                builder = builder.add_critical_option(name.encode("utf-8"), value.encode("utf-8"))
            for name, value in sorted(self.extensions.items()):
                builder = builder.add_extension(name.encode("utf-8"), value.encode("utf-8"))
        except (ValueError, TypeError) as e:
            raise DescriptionError(f"error creating ssh certificate: {e}", template=self.template) from None
        return builder


__all__ = ["HOST", "USER", "SSHDescription"]
