"""Template data maps: what X.509 and SSH templates see as `.` (docs/reference/step-templates.md §3, §6.2, §6.3).

`x509_data` and `ssh_data` build the maps from the trusted values a provisioner sets, the request and
the provisioner's `templateData`. The values inside them are Go stand-ins (`govalues` describes the
model): `subject` (`.Subject`, `.SANs`), `csrdata` (`.Insecure.CR`), `certdata` (`.AuthorizationCrt`),
`sshvalues` (SSH), with `standins` and `publickeys` for the values those hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, Unpack

from cryptography import x509

from .certdata import X509CertificateData
from .csrdata import CertificateRequest
from .errors import DescriptionError
from .govalues import GoSlice, json_to_go
from .sshvalues import SSHCertificateRequest, SSHPublicKey, default_ssh_extensions
from .subject import Subject, SubjectAlternativeName, create_sans


class TemplateDataError(DescriptionError):
    """Provisioner `templateData` is not a JSON object ("error unmarshaling template data", 500)."""


def _decode_json_option(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8")
    if isinstance(value, str):
        return json.loads(value)
    return value


def merge_template_data(data: dict[str, Any], template_data: Any) -> dict[str, Any]:
    """Merge a provisioner's `templateData` into `data` (§6.2): shallow, overriding, numbers as float64.

    `template_data` may be a mapping or raw JSON text; None or JSON `null` is skipped. Returns `data`.
    """
    if template_data is None:
        return data
    try:
        decoded = _decode_json_option(template_data)
    except (ValueError, UnicodeDecodeError) as e:
        raise TemplateDataError(f"error unmarshaling template data: {e}") from None
    if decoded is None:
        return data
    if not isinstance(decoded, Mapping):
        raise TemplateDataError(
            f"error unmarshaling template data: expected a JSON object, got {decoded!r:.40}"
        )
    for key, value in decoded.items():
        data[str(key)] = json_to_go(value)
    return data


def user_data(value: Any) -> dict[str, Any] | None:
    """Request `templateData` as `.Insecure.User` (§6.3): an object as-is, anything else non-empty as {}."""
    if value is None or value == "" or value == b"":
        return None
    if isinstance(value, Mapping):
        return json_to_go(dict(value))  # type: ignore[no-any-return]
    try:
        decoded = _decode_json_option(value)
    except (ValueError, UnicodeDecodeError):
        return {}
    return json_to_go(decoded) if isinstance(decoded, Mapping) else {}  # type: ignore[no-any-return]


class RequestValues(TypedDict, total=False):
    """The keyword arguments `x509_data` and `ssh_data` take alike (`x509_data` says what each is)."""

    provisioner_data: Any
    user: Any
    custom_template: bool  # True when not given
    authorization_crt: Any
    webhooks: Mapping[str, Any] | None
    extra: Mapping[str, Any] | None


def _finish(data: dict[str, Any], cr: Any, request: RequestValues) -> dict[str, Any]:
    merge_template_data(data, request.get("provisioner_data"))
    # Sign-time setters, in step's order: User, then webhooks, then CR. Insecure from templateData is
    # replaced (it is not step's TemplateData type); Webhooks from templateData is extended.
    insecure: dict[str, Any] = {}
    if request.get("custom_template", True):
        user_value = user_data(request.get("user"))
        if user_value is not None:
            insecure["User"] = user_value
    webhooks = request.get("webhooks")
    if webhooks:
        existing = data.get("Webhooks")
        merged = existing if isinstance(existing, dict) else {}
        for name, value in webhooks.items():
            merged[name] = json_to_go(value)
        data["Webhooks"] = merged
    insecure["CR"] = cr
    data["Insecure"] = insecure
    return data


def _add_request_values(
    data: dict[str, Any], token: Mapping[str, Any] | None, request: RequestValues
) -> None:
    """`.Token`, `.AuthorizationCrt` and the provisioner's extra keys, which both maps take alike."""
    if token is not None:
        data["Token"] = json_to_go(dict(token))
    authorization_crt = request.get("authorization_crt")
    if authorization_crt is not None:
        if isinstance(authorization_crt, x509.Certificate):
            authorization_crt = X509CertificateData.from_x509(authorization_crt)
        data["AuthorizationCrt"] = authorization_crt
    extra = request.get("extra")
    if extra:
        data.update(extra)


def x509_data(
    subject: Subject | str,
    sans: Iterable[str] | Iterable[SubjectAlternativeName] | None,
    token: Mapping[str, Any] | None,
    csr: x509.CertificateSigningRequest | CertificateRequest,
    **request: Unpack[RequestValues],
) -> dict[str, Any]:
    """The X.509 template data map (§3.1).

    `subject` is the trusted subject (a string is its common name); `sans` the trusted SANs as strings
    (grouped by `create_sans`) or ready entries, None to leave `.SANs` absent; `token` the decoded JWT
    payload or None (ACME, SCEP). `provisioner_data` is the provisioner's `templateData`, merged at the
    top level. `user` is the request's `templateData`; it becomes `.Insecure.User` only when
    `custom_template` is true. `extra` adds provisioner-specific keys (e.g. ACME Wire `Dpop`, `Oidc`)
    before the merge; `webhooks` maps enriching webhook names to their `data`.
    """
    data: dict[str, Any] = {
        "Subject": subject if isinstance(subject, Subject) else Subject(CommonName=subject)
    }
    if sans is not None:
        items = list(sans)
        if all(isinstance(s, str) for s in items):
            data["SANs"] = create_sans(items)  # type: ignore[arg-type]
        else:
            data["SANs"] = GoSlice(items, go_type="[]x509util.SubjectAlternativeName", nil=False)
    _add_request_values(data, token, request)
    cr = csr if isinstance(csr, CertificateRequest) else CertificateRequest.from_csr(csr)
    return _finish(data, cr, request)


def ssh_data(
    cert_type: str,
    key_id: str,
    principals: Iterable[str] | None,
    extensions: Mapping[str, Any] | None = None,
    critical_options: Mapping[str, Any] | None = None,
    token: Mapping[str, Any] | None = None,
    public_key: Any = None,
    request_type: str = "",
    request_key_id: str = "",
    request_principals: Iterable[str] | None = None,
    **request: Unpack[RequestValues],
) -> dict[str, Any]:
    """The SSH template data map (§3.3).

    `cert_type`, `key_id`, `principals` are the trusted values the provisioner sets; `extensions` None
    means step's defaults for the type (permit-* for user, nil for host); `critical_options` None leaves
    `.CriticalOptions` absent. `public_key` is the request's `cryptography` SSH public key and the
    `request_*` values are what the client asked for (`.Insecure.CR`). The keyword arguments work as
    for `x509_data`.
    """
    data: dict[str, Any] = {
        "Type": cert_type,
        "KeyID": key_id,
        "Principals": GoSlice(principals or (), nil=principals is None),
        "Extensions": dict(extensions) if extensions is not None else default_ssh_extensions(cert_type),
    }
    if critical_options is not None:
        data["CriticalOptions"] = dict(critical_options)
    _add_request_values(data, token, request)
    request_list = list(request_principals) if request_principals is not None else None
    cr = SSHCertificateRequest(
        Key=SSHPublicKey(public_key) if public_key is not None else None,
        Type=request_type,
        KeyID=request_key_id,
        Principals=GoSlice(request_list or (), nil=not request_list),
    )
    return _finish(data, cr, request)


__all__ = [
    "RequestValues",
    "TemplateDataError",
    "merge_template_data",
    "ssh_data",
    "user_data",
    "x509_data",
]
