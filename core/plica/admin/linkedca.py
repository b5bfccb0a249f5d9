"""linkedca's provisioner (protobuf JSON, what step's admin client sends) ↔ the ca.json block Plica stores.

One generic conversion for every type, driven by linkedca's schema (provisioners.proto): each details
field has a kind saying how its value maps to the ca.json field of the same name (matched without regard
to case: `forceCn` ↔ `forceCN`, `projectIds` ↔ `projectIDs`) or of the name in `_RENAMES`. A type that
linkedca does not know (a third-party plugin's) carries its ca.json fields as they are, under
`details.<TypeName>`: step's client cannot send one, Plica's CLI can.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from plica.admin.errors import AdminError
from plica.admin.provstore import AUTHORITY_ID, StoredProvisioner
from plica.durations import rfc3339

ZERO_TIME = "0001-01-01T00:00:00Z"

# Kinds: str, bool, int, strs (repeated string), json (bytes holding JSON ↔ an object), text (bytes
# holding text ↔ a string), pems (repeated bytes, one PEM each ↔ base64 of the PEM bundle, as ca.json
# keeps roots), enums (repeated enum ↔ lower-case strings with "-": HTTP_01 ↔ http-01).
_SCHEMA: dict[str, tuple[int, str, dict[str, str]]] = {
    "JWK": (1, "JWK", {"publicKey": "json", "encryptedPrivateKey": "text"}),
    "OIDC": (2, "OIDC", {
        "clientId": "str", "clientSecret": "str", "configurationEndpoint": "str", "admins": "strs",
        "domains": "strs", "groups": "strs", "listenAddress": "str", "tenantId": "str",
    }),
    "GCP": (3, "GCP", {
        "serviceAccounts": "strs", "projectIds": "strs", "disableCustomSans": "bool",
        "disableTrustOnFirstUse": "bool", "instanceAge": "str",
    }),
    "AWS": (4, "AWS", {
        "accounts": "strs", "disableCustomSans": "bool", "disableTrustOnFirstUse": "bool", "instanceAge": "str",
    }),
    "AZURE": (5, "Azure", {
        "tenantId": "str", "resourceGroups": "strs", "audience": "str", "disableCustomSans": "bool",
        "disableTrustOnFirstUse": "bool", "subscriptionIds": "strs", "objectIds": "strs",
    }),
    "ACME": (6, "ACME", {
        "forceCn": "bool", "requireEab": "bool", "challenges": "enums", "attestationFormats": "enums",
        "attestationRoots": "pems", "termsOfService": "str", "website": "str", "caaIdentities": "strs",
    }),
    "X5C": (7, "X5C", {"roots": "pems"}),
    "K8SSA": (8, "K8sSA", {"publicKeys": "pems"}),
    "SSHPOP": (9, "SSHPOP", {}),
    "SCEP": (10, "SCEP", {
        "forceCn": "bool", "challenge": "str", "capabilities": "strs", "minimumPublicKeyLength": "int",
        "includeRoot": "bool", "encryptionAlgorithmIdentifier": "int",
    }),
    "NEBULA": (11, "Nebula", {"roots": "pems"}),
}  # fmt: skip
_BY_NUMBER = {n: name for name, (n, _, _) in _SCHEMA.items()}
_RENAMES = {("JWK", "publicKey"): "key", ("JWK", "encryptedPrivateKey"): "encryptedKey"}
# Fields of the block that are not the type's details.
_COMMON = {"type", "name", "claims", "options", "policy", "id"}
_TOP = {
    "id", "authorityId", "type", "name", "details", "claims", "x509Template", "sshTemplate", "createdAt",
    "deletedAt", "policy", "webhooks",
}  # fmt: skip


def bad(message: str) -> AdminError:
    return AdminError(400, message)


def camel(key: str) -> str:
    """protojson accepts a field's proto name (`public_key`) as well as its JSON name (`publicKey`)."""
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _b64decode(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise bad(f"{where}: expected base64 bytes")
    s = value.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise bad(f"{where}: not valid base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


_PEM = re.compile(rb"-----BEGIN [^-]+-----.*?-----END [^-]+-----\s*", re.S)


def _from_wire(kind: str, value: Any, where: str) -> Any:
    if kind == "str":
        if not isinstance(value, str):
            raise bad(f"{where}: expected a string")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad(f"{where}: expected true or false")
        return value
    if kind == "int":
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)  # protojson writes 64-bit ints as strings and accepts both
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad(f"{where}: expected an integer")
        return value
    if kind == "json":
        try:
            obj = orjson.loads(_b64decode(value, where))
        except orjson.JSONDecodeError:
            raise bad(f"{where}: not base64 of a JSON object") from None
        if not isinstance(obj, dict):
            raise bad(f"{where}: not base64 of a JSON object")
        return obj
    if kind == "text":
        try:
            return _b64decode(value, where).decode()
        except UnicodeDecodeError:
            raise bad(f"{where}: not base64 of text") from None
    if not isinstance(value, list):
        raise bad(f"{where}: expected a list")
    if kind == "strs":
        if not all(isinstance(v, str) for v in value):
            raise bad(f"{where}: expected a list of strings")
        return value
    if kind == "pems":
        pems = [_b64decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not all(_PEM.fullmatch(p.strip() + b"\n") for p in pems):
            raise bad(f"{where}: each entry must be base64 of one PEM block")
        return _b64(b"".join(p.strip() + b"\n" for p in pems))
    if kind == "enums":
        if not all(isinstance(v, str) and v for v in value):
            raise bad(f"{where}: expected a list of enum names")
        return [v.lower().replace("_", "-") for v in value]
    raise AssertionError(kind)


def _to_wire(kind: str, value: Any) -> Any:
    if kind == "json":
        return _b64(orjson.dumps(value))
    if kind == "text":
        return _b64(str(value).encode())
    if kind == "pems":
        raw = (
            value if isinstance(value, bytes) else base64.b64decode(value) if isinstance(value, str) else b""
        )
        if isinstance(value, list):
            raw = b"".join(base64.b64decode(v) if isinstance(v, str) else b"" for v in value)
        return [_b64(m.group(0).strip() + b"\n") for m in _PEM.finditer(raw)]
    if kind == "enums":
        return [str(v).upper().replace("-", "_") for v in value]
    return value


def schema_of(type_name: str) -> tuple[int, str, dict[str, str]] | None:
    return _SCHEMA.get(type_name.upper())


def type_name_of(value: Any) -> str:
    """The `type` of a request: linkedca's enum name or number, or a type linkedca does not know."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in _BY_NUMBER:
            raise bad(f"unknown provisioner type {value}")
        return _BY_NUMBER[value]
    if not isinstance(value, str) or not value:
        raise bad("provisioner needs a 'type'")
    return value


def block_from_linkedca(body: Any, plugins: Any) -> dict[str, Any]:
    """The ca.json block of a linkedca provisioner (not validated beyond its shape: the caller loads it)."""
    if not isinstance(body, dict):
        raise bad("expected a JSON object (a linkedca provisioner)")
    body = {camel(k): v for k, v in body.items()}
    unknown = sorted(set(body) - _TOP)
    if unknown:
        raise bad(f"unknown field(s) {', '.join(unknown)}")
    type_name = type_name_of(body.get("type"))
    try:
        entry = plugins.get_type(type_name)
    except Exception:
        raise bad(f"unknown provisioner type {type_name!r} (no plugin provides it)") from None
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise bad("provisioner needs a 'name' (non-empty, without surrounding spaces)")
    schema = schema_of(entry.type.name)
    details = body.get("details")
    if not isinstance(details, dict) or len(details) != 1:
        raise bad("provisioner needs 'details' with exactly one member, named after its type")
    ((key, inner),) = details.items()
    expected = schema[1] if schema else entry.type.name
    if key.lower() != expected.lower():
        raise bad(f"provisioner type {type_name} disagrees with its details ({key!r}; expected {expected!r})")
    if inner is None:
        inner = {}
    if not isinstance(inner, dict):
        raise bad(f"details.{key}: expected a JSON object")
    block: dict[str, Any] = {"type": entry.type.name, "name": name}
    if schema is None:
        block.update({k: v for k, v in inner.items() if k not in _COMMON})
    else:
        fields = {f.lower(): f for f in schema[2]}
        for k, v in inner.items():
            f = fields.get(camel(k).lower())
            if f is None:
                # Plica's extension: a field of the type's ca.json block that linkedca has no place for
                # (SCEP's decrypter, ACME's validation), as ca.json holds it. step's client never sends one.
                extra = _ca_name(entry, k)
                if extra == k and _config_has(entry, k) and k not in _COMMON:
                    block[k] = v
                    continue
                raise bad(f"details.{key}: unknown field {k!r}")
            if v is None:
                continue
            block[_RENAMES.get((_BY_NUMBER[schema[0]], f), _ca_name(entry, f))] = _from_wire(
                schema[2][f], v, f"details.{key}.{f}"
            )
    claims = claims_from_linkedca(body.get("claims"))
    if claims:
        block["claims"] = claims
    options: dict[str, Any] = {}
    for wire, kind in (("x509Template", "x509"), ("sshTemplate", "ssh")):
        t = template_from_linkedca(body.get(wire), wire)
        if t:
            options[kind] = t
    if options:
        block["options"] = options
    if body.get("policy") or body.get("webhooks"):
        raise bad("policy and webhooks are not supported through the admin API; set them with ca.json")
    return block


def _config_has(entry: Any, field: str) -> bool:
    import attrs

    return any(f.metadata.get("json") == field for f in attrs.fields(entry.type.config_class))


def expressible(type_name: str, key: str) -> bool:
    """Whether linkedca can carry the ca.json field `key` of a `type_name` block (a PUT replaces those;
    the others, Plica's own, stay as stored)."""
    if key in ("type", "name", "claims", "options"):
        return True
    schema = schema_of(type_name)
    if schema is None:
        return key not in _COMMON
    enum = _BY_NUMBER[schema[0]]
    names = {_RENAMES.get((enum, f), f).lower() for f in schema[2]}
    return key.lower() in names


def _ca_name(entry: Any, field: str) -> str:
    """The ca.json name of a linkedca field: the type's config field that matches it without case."""
    import attrs

    for f in attrs.fields(entry.type.config_class):
        json_name = f.metadata.get("json")
        if isinstance(json_name, str) and json_name.lower() == field.lower():
            return json_name
    return field


def linkedca_from_block(p: StoredProvisioner, *, extensions: bool = False) -> dict[str, Any]:
    """The linkedca provisioner (protobuf JSON, zero values left out as protojson does) of a stored one.
    With `extensions` (Plica's own CLI sending a block), fields linkedca has no place for go in the
    details as ca.json names them; never in an answer, which step's client would refuse."""
    block = p.block
    schema = schema_of(str(block.get("type", p.type)))
    out: dict[str, Any] = {"id": p.id, "authorityId": AUTHORITY_ID}
    if schema is None:
        out["type"] = str(block.get("type", p.type))
        inner = {k: v for k, v in block.items() if k not in _COMMON}
        out["name"] = p.name
        out["details"] = {out["type"]: inner}
    else:
        enum = _BY_NUMBER[schema[0]]
        lower = {k.lower(): k for k in block}
        inner = {}
        for f, kind in schema[2].items():
            src = _RENAMES.get((enum, f)) or lower.get(f.lower())
            value = block.get(src) if src else None
            if value in (None, "", [], False, 0):
                continue
            inner[f] = _to_wire(kind, value)
        if extensions:
            inner.update({k: v for k, v in block.items() if k not in _COMMON and not expressible(enum, k)})
        out["type"] = enum
        out["name"] = p.name
        out["details"] = {schema[1]: inner}
    claims = claims_to_linkedca(block.get("claims"))
    if claims:
        out["claims"] = claims
    raw_options = block.get("options")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    for wire, kind in (("x509Template", "x509"), ("sshTemplate", "ssh")):
        t = template_to_linkedca(options.get(kind))
        if t:
            out[wire] = t
    out["createdAt"] = rfc3339(p.created_at)
    out["deletedAt"] = ZERO_TIME
    return out


# ---- claims: linkedca's nested form ↔ ca.json's flat one
_DURATIONS = {
    "x509": ("durations", "TLSCert"),
    "user": ("userDurations", "UserSSHCert"),
    "host": ("hostDurations", "HostSSHCert"),
}


def claims_from_linkedca(c: Any) -> dict[str, Any]:
    if c is None:
        return {}
    if not isinstance(c, dict):
        raise bad("claims: expected a JSON object")
    c = {camel(k): v for k, v in c.items()}
    out: dict[str, Any] = {}
    for flag in ("disableRenewal", "allowRenewalAfterExpiry"):
        if c.get(flag) is not None:
            if not isinstance(c[flag], bool):
                raise bad(f"claims.{flag}: expected true or false")
            if c[flag]:
                out[flag] = True
    x509 = _obj(c.get("x509"), "claims.x509")
    ssh = _obj(c.get("ssh"), "claims.ssh")
    _durations(_obj(x509.get("durations"), "claims.x509.durations"), "TLSCert", out)
    if ssh.get("enabled") is not None:
        if not isinstance(ssh["enabled"], bool):
            raise bad("claims.ssh.enabled: expected true or false")
        out["enableSSHCA"] = ssh["enabled"]
    _durations(
        _obj(ssh.get("userDurations", ssh.get("user_durations")), "claims.ssh.userDurations"),
        "UserSSHCert",
        out,
    )
    _durations(
        _obj(ssh.get("hostDurations", ssh.get("host_durations")), "claims.ssh.hostDurations"),
        "HostSSHCert",
        out,
    )
    return out


def _obj(v: Any, where: str) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise bad(f"{where}: expected a JSON object")
    return v


def _durations(d: dict[str, Any], suffix: str, out: dict[str, Any]) -> None:
    for k in ("min", "max", "default"):
        v = d.get(k)
        if v in (None, ""):
            continue
        if not isinstance(v, str):
            raise bad(f"claims: duration {k} must be a string such as '24h'")
        out[f"{k}{suffix}Duration"] = v


def claims_to_linkedca(c: Any) -> dict[str, Any]:
    if not isinstance(c, dict) or not c:
        return {}
    out: dict[str, Any] = {}

    def durations(suffix: str) -> dict[str, str]:
        return {
            k: c[f"{k}{suffix}Duration"] for k in ("default", "min", "max") if c.get(f"{k}{suffix}Duration")
        }

    x = durations("TLSCert")
    if x:
        out["x509"] = {"enabled": True, "durations": x}
    if c.get("enableSSHCA"):
        ssh: dict[str, Any] = {"enabled": True}
        for key, suffix in (("userDurations", "UserSSHCert"), ("hostDurations", "HostSSHCert")):
            d = durations(suffix)
            if d:
                ssh[key] = d
        out["ssh"] = ssh
    for flag in ("disableRenewal", "allowRenewalAfterExpiry"):
        if c.get(flag):
            out[flag] = True
    return out


def template_from_linkedca(t: Any, where: str) -> dict[str, Any]:
    if t is None:
        return {}
    if not isinstance(t, dict):
        raise bad(f"{where}: expected a JSON object")
    out: dict[str, Any] = {}
    if t.get("template"):
        try:
            out["template"] = _b64decode(t["template"], f"{where}.template").decode()
        except UnicodeDecodeError:
            raise bad(f"{where}.template: not text") from None
    if t.get("data"):
        data = _b64decode(t["data"], f"{where}.data")
        try:
            out["templateData"] = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise bad(f"{where}.data: not base64 of JSON") from None
    return out


def template_to_linkedca(opt: Any) -> dict[str, Any]:
    if not isinstance(opt, dict):
        return {}
    out: dict[str, Any] = {}
    if isinstance(opt.get("template"), str) and opt["template"]:
        out["template"] = _b64(opt["template"].encode())
    if opt.get("templateData") is not None:
        out["data"] = _b64(orjson.dumps(opt["templateData"]))
    return out
