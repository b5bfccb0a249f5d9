"""The little DER the kernel writes and reads itself: step's provisioner extension (api.md §3a)."""

from __future__ import annotations

from attrs import frozen
from cryptography import x509

PROVISIONER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _len(len(value)) + value


def der_int(n: int) -> bytes:
    b = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, b)


@frozen
class ProvisionerExtension:
    type: int
    name: str
    credential_id: str
    key_value_pairs: tuple[str, ...] = ()

    def to_der(self) -> bytes:
        body = der_int(self.type) + tlv(0x04, self.name.encode()) + tlv(0x04, self.credential_id.encode())
        if self.key_value_pairs:
            body += tlv(0x30, b"".join(tlv(0x0C, kv.encode()) for kv in self.key_value_pairs))
        return tlv(0x30, body)

    def extension(self) -> x509.UnrecognizedExtension:
        return x509.UnrecognizedExtension(PROVISIONER_OID, self.to_der())

    @classmethod
    def from_der(cls, data: bytes) -> ProvisionerExtension:
        tag, body, rest = _read(data)
        if tag != 0x30 or rest:
            raise ValueError("provisioner extension is not a SEQUENCE")
        t, v, body = _read(body)
        if t != 0x02:
            raise ValueError("provisioner extension: type is not an INTEGER")
        ptype = int.from_bytes(v, "big", signed=True)
        t, name, body = _read(body)
        t2, cred, body = _read(body)
        if t != 0x04 or t2 != 0x04:
            raise ValueError("provisioner extension: name/credentialID are not OCTET STRINGs")
        kvs: list[str] = []
        if body:
            t, seq, _ = _read(body)
            while seq:
                _, item, seq = _read(seq)
                kvs.append(item.decode())
        return cls(ptype, name.decode(), cred.decode(), tuple(kvs))

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> ProvisionerExtension | None:
        try:
            ext = cert.extensions.get_extension_for_oid(PROVISIONER_OID)
        except x509.ExtensionNotFound:
            return None
        value = ext.value
        if not isinstance(value, x509.UnrecognizedExtension):
            return None
        try:
            return cls.from_der(value.value)
        except (ValueError, IndexError, UnicodeDecodeError):
            return None


def _read(data: bytes) -> tuple[int, bytes, bytes]:
    if len(data) < 2:
        raise ValueError("truncated DER")
    tag = data[0]
    n = data[1]
    pos = 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[2 : 2 + k], "big")
        pos = 2 + k
    if pos + n > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos : pos + n], data[pos + n :]
