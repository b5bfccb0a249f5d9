"""SSH template data values (§3.3): step's default extensions and `.Insecure.CR` for SSH."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .govalues import GoSlice, exported_fields, go_str, struct_str
from .publickeys import wrap_public_key

DEFAULT_SSH_USER_EXTENSIONS: dict[str, str] = {
    "permit-X11-forwarding": "",
    "permit-agent-forwarding": "",
    "permit-port-forwarding": "",
    "permit-pty": "",
    "permit-user-rc": "",
}


def default_ssh_extensions(cert_type: str) -> dict[str, Any] | None:
    """`sshutil.DefaultExtensions`: the permit-* set for user certificates, nil (None) for hosts."""
    return dict(DEFAULT_SSH_USER_EXTENSIONS) if cert_type.lower() == "user" else None


_SSH_KEY_GO_TYPES = {
    "ssh-rsa": "*ssh.rsaPublicKey",
    "ssh-ed25519": "ssh.ed25519PublicKey",
    "ecdsa-sha2-nistp256": "*ssh.ecdsaPublicKey",
    "ecdsa-sha2-nistp384": "*ssh.ecdsaPublicKey",
    "ecdsa-sha2-nistp521": "*ssh.ecdsaPublicKey",
}


def _ssh_key_type(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "ssh-rsa"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ssh-ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-sha2-nistp256", "secp384r1": "ecdsa-sha2-nistp384"}.get(
            key.curve.name, "ecdsa-sha2-nistp521"
        )
    return type(key).__name__


@attrs.define(eq=False)
class SSHPublicKey:
    """`ssh.PublicKey`: methods `Type` (e.g. `ssh-ed25519`) and `Marshal` (wire bytes)."""

    key: Any

    @property
    def __go_type__(self) -> str:  # type: ignore[override]
        return _SSH_KEY_GO_TYPES.get(self.Type(), "ssh.PublicKey")

    def Type(self) -> str:
        return _ssh_key_type(self.key)

    def Marshal(self) -> bytes:
        line = self.key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return base64.b64decode(line.split()[1])

    def __go_json__(self) -> Any:
        inner = wrap_public_key(self.key)
        return inner

    def __go_str__(self) -> str:
        return go_str(wrap_public_key(self.key))


@attrs.define(eq=False)
class SSHCertificateRequest:
    """`sshutil.CertificateRequest` (no JSON tags: `toJson` gives `{"Key","Type","KeyID","Principals"}`)."""

    __go_type__: ClassVar[str] = "sshutil.CertificateRequest"
    Key: Any
    Type: str = ""
    KeyID: str = ""
    Principals: GoSlice = attrs.field(factory=lambda: GoSlice(nil=True))

    def __go_json__(self) -> dict[str, Any]:
        return exported_fields(self)

    def __go_str__(self) -> str:
        return struct_str(*exported_fields(self).values())


__all__ = [
    "DEFAULT_SSH_USER_EXTENSIONS",
    "SSHCertificateRequest",
    "SSHPublicKey",
    "default_ssh_extensions",
]
