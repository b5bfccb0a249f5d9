"""Rendering step's default templates (§4) into real certificates, and the defaults being the spec's
text verbatim.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificateType
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from plica.certdesc import X509Description, defaults, render_ssh, render_x509, ssh_data, x509_data

from .render_helpers import (
    CA,
    NOW,
    SERVER_CLIENT,
    TOKEN,
    csr_for,
    defaults_user_extensions,
    ekus,
    ext,
    has,
    issue,
    key_usages,
    san_list,
    ssh_sign,
)

# -- §4 X.509 defaults ---------------------------------------------------------------------------------------


def test_default_leaf_is_the_73_leaf(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "jane@doe.com")
    data = x509_data("jane@doe.com", TOKEN["sans"], TOKEN, csr)
    text = render_x509(defaults.DEFAULT_LEAF_TEMPLATE, data)
    rendered_73 = X509Description.from_json(
        '{"subject": {"commonName": "jane@doe.com"}, "sans": [{"type": "email", "value": "jane@doe.com"}],'
        ' "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth", "clientAuth"]}'
    )
    assert text == rendered_73
    cert = ca.sign(text, ec_key.public_key())
    assert cert.subject.rfc4514_string() == "CN=jane@doe.com"
    assert san_list(cert) == [x509.RFC822Name("jane@doe.com")]
    assert not ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical
    assert key_usages(cert) == {"digital_signature"}
    assert ekus(cert) == SERVER_CLIENT
    assert [e.oid.dotted_string for e in cert.extensions] == [
        "2.5.29.15",
        "2.5.29.37",
        "2.5.29.14",
        "2.5.29.35",
        "2.5.29.17",
    ]


def test_default_leaf_rsa(ca: CA, rsa_key: Any) -> None:
    csr = csr_for(rsa_key, "jane@doe.com")
    cert = issue(
        ca, defaults.DEFAULT_LEAF_TEMPLATE, x509_data("jane@doe.com", ["jane@doe.com"], TOKEN, csr), csr
    )
    assert key_usages(cert) == {"digital_signature", "key_encipherment"}
    assert ekus(cert) == SERVER_CLIENT


def test_default_leaf_ed25519_and_mixed_sans(ca: CA) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    csr = csr_for(key, "web")
    sans = ["web.example.com", "10.0.0.5", "https://web.example.com/id", "ops@example.com"]
    cert = issue(ca, defaults.DEFAULT_LEAF_TEMPLATE, x509_data("web", sans, TOKEN, csr), csr)
    assert san_list(cert) == [
        x509.DNSName("web.example.com"),
        x509.RFC822Name("ops@example.com"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.5")),
        x509.UniformResourceIdentifier("https://web.example.com/id"),
    ]
    assert key_usages(cert) == {"digital_signature"}


def test_default_iid_leaf_uses_csr_names_without_trusted_sans(ca: CA, ec_key: Any) -> None:
    csr = csr_for(
        ec_key,
        "i-0123456789",
        [
            x509.DNSName("ip-10-0-0-1.us-east-1.compute.internal"),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        ],
        extra=[x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dropped")],
    )
    cert = issue(
        ca, defaults.DEFAULT_IID_LEAF_TEMPLATE, x509_data("i-0123456789", None, {"sub": "x"}, csr), csr
    )
    assert cert.subject.rfc4514_string() == "CN=i-0123456789"  # only the CSR's CN is kept
    assert san_list(cert) == [
        x509.DNSName("ip-10-0-0-1.us-east-1.compute.internal"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
    ]
    assert key_usages(cert) == {"digital_signature"} and ekus(cert) == SERVER_CLIENT
    trusted = ["i.c.project.internal", "i.us-central1-a.c.project.internal"]
    cert = issue(ca, defaults.DEFAULT_IID_LEAF_TEMPLATE, x509_data("i", trusted, {"sub": "x"}, csr), csr)
    assert san_list(cert) == [x509.DNSName(n) for n in trusted]


def test_default_admin_leaf_copies_the_csr(ca: CA, rsa_key: Any) -> None:
    csr = csr_for(
        rsa_key,
        "system:serviceaccount:default:web",
        [
            x509.DNSName("web.default.svc"),
            x509.UniformResourceIdentifier("spiffe://cluster/ns/default/sa/web"),
        ],
        extra=[
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "k8s"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "web@k8s"),
        ],
    )
    cert = issue(ca, defaults.DEFAULT_ADMIN_LEAF_TEMPLATE, x509_data("web", None, {"sub": "web"}, csr), csr)
    assert (
        cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        == "system:serviceaccount:default:web"
    )
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "k8s"
    assert cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "web@k8s"
    assert san_list(cert) == [
        x509.DNSName("web.default.svc"),
        x509.UniformResourceIdentifier("spiffe://cluster/ns/default/sa/web"),
    ]
    assert key_usages(cert) == {"digital_signature", "key_encipherment"}


def test_default_attested_leaf(ca: CA, ec_key: Any) -> None:
    from plica.certdesc import SubjectAlternativeName

    csr = csr_for(ec_key, "device")
    sans = [SubjectAlternativeName("permanentIdentifier", "0123456789")]
    cert = issue(ca, defaults.DEFAULT_ATTESTED_LEAF_TEMPLATE, x509_data("device", sans, None, csr), csr)
    (name,) = san_list(cert)
    assert name == x509.OtherName(x509.ObjectIdentifier("1.3.6.1.5.5.7.8.3"), b"\x30\x0c\x0c\x0a0123456789")
    assert ekus(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert key_usages(cert) == {"digital_signature"}


@pytest.mark.parametrize("cn", ["backend.example.com", None])
def test_certificate_request_passthrough_76(ca: CA, ec_key: Any, cn: str | None) -> None:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("backend.example.com")]), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ec_key, hashes.SHA256())
    )
    data = x509_data("ignored", ["ignored.example.com"], TOKEN, csr)
    cert = issue(
        ca, defaults.CERTIFICATE_REQUEST_TEMPLATE, data, csr, subject_defaults={"organization": "nope"}
    )
    assert cert.subject.public_bytes() == csr.subject.public_bytes()  # byte-exact, no authority.template
    assert san_list(cert) == [x509.DNSName("backend.example.com")]
    assert ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical is (cn is None)
    assert key_usages(cert) == {"digital_signature", "key_agreement"}
    assert ekus(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    requested = {e.oid: e.value.public_bytes() for e in csr.extensions}
    for e in cert.extensions:
        if e.oid in requested:
            assert e.value.public_bytes() == requested[e.oid]


def test_default_certificate_request_template(ec_key: Any) -> None:
    csr = csr_for(ec_key, "x")
    desc = render_x509(
        defaults.DEFAULT_CERTIFICATE_REQUEST_TEMPLATE, x509_data("svc", ["svc.local"], None, csr)
    )
    assert desc.subject.common_name == "svc"
    assert [(s.type, s.value) for s in desc.sans] == [("dns", "svc.local")]


def test_default_intermediate_and_root_75(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "ACME Intermediate CA")
    cert = issue(
        ca, defaults.DEFAULT_INTERMEDIATE_TEMPLATE, x509_data("ACME Intermediate CA", None, None, csr), csr
    )
    assert cert.subject.rfc4514_string() == "CN=ACME Intermediate CA"
    assert key_usages(cert) == {"key_cert_sign", "crl_sign"}
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_csr = csr_for(root_key, "ACME Root CA")
    desc = render_x509(defaults.DEFAULT_ROOT_TEMPLATE, x509_data("ACME Root CA", None, None, root_csr))
    assert desc.issuer.common_name == "ACME Root CA"  # decoded, but without effect
    builder = desc.apply(x509.CertificateBuilder(), public_key=root_key.public_key())
    builder = builder.serial_number(5).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=3650))
    root = builder.sign(root_key, hashes.SHA256())
    assert root.issuer == root.subject
    assert ext(root, ExtensionOID.BASIC_CONSTRAINTS).value.path_length == 1
    assert not has(root, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    root.verify_directly_issued_by(root)


# -- §4 SSH defaults -----------------------------------------------------------------------------------------


def test_ssh_default_template_user(ssh_key: Any) -> None:
    data = ssh_data("user", "jane@doe.com", ["jane", "jane@doe.com"], token=TOKEN, public_key=ssh_key)
    cert = ssh_sign(render_ssh(defaults.SSH_DEFAULT_TEMPLATE, data))
    assert cert.type == SSHCertificateType.USER
    assert cert.key_id == b"jane@doe.com"
    assert cert.valid_principals == [b"jane", b"jane@doe.com"]
    assert set(cert.extensions) == {
        b"permit-X11-forwarding",
        b"permit-agent-forwarding",
        b"permit-port-forwarding",
        b"permit-pty",
        b"permit-user-rc",
    }
    assert cert.critical_options == {}


def test_ssh_default_template_host(ssh_key: Any) -> None:
    data = ssh_data("host", "web01", ["web01.internal"], public_key=ssh_key)
    cert = ssh_sign(render_ssh(defaults.SSH_DEFAULT_TEMPLATE, data))
    assert cert.type == SSHCertificateType.HOST
    assert cert.extensions == {} and cert.valid_principals == [b"web01.internal"]


@pytest.mark.parametrize("request_type", ["user", "host"])
def test_ssh_default_admin_template(ssh_key: Any, request_type: str) -> None:
    data = ssh_data(
        "user",
        "admin@example.com",
        ["admin"],
        critical_options={"force-command": "/bin/true"},
        public_key=ssh_key,
        request_type=request_type,
        request_key_id="requested-id",
        request_principals=["root", "web01"],
    )
    desc = render_ssh(defaults.SSH_DEFAULT_ADMIN_TEMPLATE, data)
    assert desc.type == request_type and desc.key_id == "requested-id"
    assert desc.principals == ("root", "web01")
    if request_type == "user":
        assert "permit-pty" in desc.extensions
        assert desc.critical_options == {"force-command": "/bin/true"}
    else:
        assert desc.extensions == {} and desc.critical_options == {}


def test_ssh_default_iid_template(ssh_key: Any) -> None:
    trusted = ["10.0.0.1", "ip-10-0-0-1.us-east-1.compute.internal"]
    data = ssh_data("host", "i-0123", trusted, public_key=ssh_key)
    desc = render_ssh(defaults.SSH_DEFAULT_IID_TEMPLATE, data)
    assert desc.type == "host" and desc.key_id == "i-0123" and desc.principals == tuple(trusted)
    data = ssh_data("host", "i-0123", trusted, public_key=ssh_key, request_principals=["custom.example"])
    assert render_ssh(defaults.SSH_DEFAULT_IID_TEMPLATE, data).principals == ("custom.example",)


@pytest.mark.parametrize("request_type", ["user", "host"])
def test_ssh_certificate_request_template(ssh_key: Any, request_type: str) -> None:
    data = ssh_data(
        "host", "web", ["web"], public_key=ssh_key, request_type=request_type, request_key_id="web",
        request_principals=["web.default.svc"],
    )  # fmt: skip
    desc = render_ssh(defaults.SSH_CERTIFICATE_REQUEST_TEMPLATE, data)
    assert desc.type == request_type and desc.principals == ("web.default.svc",)
    expected = set(defaults_user_extensions()) if request_type == "user" else set()
    assert set(desc.extensions) == expected
    ssh_sign(desc)


# -- §4 defaults, verbatim in the spec -----------------------------------------------------------------------


def test_default_templates_are_verbatim() -> None:
    assert defaults.CERTIFICATE_REQUEST_TEMPLATE == "{{ toJson .Insecure.CR }}"
    assert defaults.DEFAULT_LEAF_TEMPLATE.startswith('{\n\t"subject": {{ toJson .Subject }},\n\t"sans"')
    assert defaults.DEFAULT_LEAF_TEMPLATE.endswith('\t"extKeyUsage": ["serverAuth", "clientAuth"]\n}')
    assert '\t\t"permit-X11-forwarding":   "",\n' in defaults.SSH_CERTIFICATE_REQUEST_TEMPLATE
    assert set(defaults.X509_TEMPLATES) == {
        "DefaultLeafTemplate",
        "DefaultIIDLeafTemplate",
        "DefaultAdminLeafTemplate",
        "DefaultAttestedLeafTemplate",
        "CertificateRequestTemplate",
        "DefaultCertificateRequestTemplate",
        "DefaultIntermediateTemplate",
        "DefaultRootTemplate",
    }
    assert set(defaults.SSH_TEMPLATES) == {
        "DefaultTemplate",
        "DefaultAdminTemplate",
        "DefaultIIDTemplate",
        "CertificateRequestTemplate",
    }
    spec = Path(__file__).resolve().parents[2] / "docs" / "reference" / "step-templates.md"
    text = spec.read_text()  # every default appears verbatim in the spec (in the repository: docs/reference)
    for template in [*defaults.X509_TEMPLATES.values(), *defaults.SSH_TEMPLATES.values()]:
        assert f"```\n{template}\n```" in text
