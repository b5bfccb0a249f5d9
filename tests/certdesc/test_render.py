"""Rendering step's default templates (§4) and the documentation examples (§7) into real certificates."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from plica.certdesc import (
    DescriptionError,
    SSHDescription,
    X509Description,
    defaults,
    load_template_option,
    render_ssh,
    render_x509,
    signing_params,
    ssh_data,
    x509_data,
)
from plica.certdesc.render import clear_cache, has_custom_template, resolve_template_path
from plica.templating import TemplateError

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TOKEN = {
    "aud": "https://ca.example.com/1.0/sign",
    "exp": 1606870196,
    "iat": 1606869896,
    "iss": "jane@smallstep.com",
    "jti": "b4a9b2c0f0d24fd2a3e5e8fcd2dd6d3d",
    "nbf": 1606869896,
    "sans": ["jane@doe.com"],
    "sha": "3c5a0b7ae2b5a3a0e5e3b8f3c1d8d8e2a1b4e7c9d0f2a3b4c5d6e7f8091a2b3c",
    "sub": "jane@doe.com",
}


# -- fixtures -------------------------------------------------------------------------------------------------


class CA:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        desc = X509Description.from_json(
            '{"subject": {"commonName": "Test Intermediate CA"}, "keyUsage": ["certSign", "crlSign"],'
            ' "basicConstraints": {"isCA": true, "maxPathLen": 0}}'
        )
        builder = desc.apply(x509.CertificateBuilder(), public_key=self.key.public_key())
        builder = builder.serial_number(1).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=30))
        self.cert = builder.sign(self.key, hashes.SHA256())

    def sign(self, desc: X509Description, public_key: Any, **kwargs: Any) -> x509.Certificate:
        builder = desc.apply(
            x509.CertificateBuilder(), public_key=public_key, issuer_cert=self.cert, **kwargs
        )
        builder = builder.serial_number(desc.serial_number or x509.random_serial_number())
        builder = builder.not_valid_before(desc.not_before or NOW - dt.timedelta(minutes=1))
        builder = builder.not_valid_after(desc.not_after or NOW + dt.timedelta(hours=24))
        params = signing_params(desc.signature_algorithm, self.key, ca_cert=self.cert)
        return builder.sign(self.key, params.algorithm, rsa_padding=params.rsa_padding)


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA()


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def csr_for(
    key: Any,
    cn: str | None = None,
    sans: list[x509.GeneralName] | None = None,
    extra: list[x509.NameAttribute] | None = None,
) -> x509.CertificateSigningRequest:
    attributes = ([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []) + (extra or [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def issue(
    ca: CA, template: str, data: dict[str, Any], csr: x509.CertificateSigningRequest, **kw: Any
) -> x509.Certificate:
    desc = render_x509(template, data, name="template")
    return ca.sign(desc, csr.public_key(), **kw)


def ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_oid(oid)


def has(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bool:
    return any(e.oid == oid for e in cert.extensions)


def san_list(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value)


def ekus(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(ext(cert, ExtensionOID.EXTENDED_KEY_USAGE).value)


def key_usages(cert: x509.Certificate) -> set[str]:
    ku = ext(cert, ExtensionOID.KEY_USAGE)
    assert ku.critical
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign"]  # fmt: skip
    return {n for n in names if getattr(ku.value, n)}


SERVER_CLIENT = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


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


def ssh_sign(desc: SSHDescription) -> Any:
    ca_key = ed25519.Ed25519PrivateKey.generate()
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    now = int(NOW.timestamp())
    builder = desc.apply(SSHCertificateBuilder()).public_key(key).serial(desc.serial or 7)
    return builder.valid_after(now - 60).valid_before(now + 3600).sign(ca_key)


@pytest.fixture(scope="module")
def ssh_key() -> Any:
    return ed25519.Ed25519PrivateKey.generate().public_key()


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


def defaults_user_extensions() -> list[str]:
    return [
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
    ]


# -- §7 documentation examples -------------------------------------------------------------------------------

TEMPLATE_71 = """{
    "subject": {
        "organizationalUnit": {{ toJson .OrganizationalUnit }},
        "commonName": {{ toJson .Subject.CommonName }}
    },
    "sans": {{ toJson .SANs }},
    "keyUsage": ["digitalSignature"],
    "extKeyUsage": ["serverAuth", "clientAuth"]
}"""


def test_71_template_data(ca: CA, ec_key: Any, tmp_path: Path) -> None:
    (tmp_path / "templates/certs/x509").mkdir(parents=True)
    (tmp_path / "templates/certs/x509/leaf.tpl").write_text(TEMPLATE_71)
    options = {
        "templateFile": "templates/certs/x509/leaf.tpl",
        "templateData": {"OrganizationalUnit": "Engineering Team"},
    }
    template = load_template_option(options, base_dir=str(tmp_path))
    assert template == TEMPLATE_71
    csr = csr_for(ec_key, "jane@doe.com")
    data = x509_data("jane@doe.com", ["jane@doe.com"], TOKEN, csr, provisioner_data=options["templateData"])
    cert = issue(ca, template, data, csr)
    assert cert.subject.rfc4514_string() == "CN=jane@doe.com,OU=Engineering Team"  # encoded OU, then CN
    assert [rdn._attributes[0].oid for rdn in cert.subject.rdns] == [
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]
    assert san_list(cert) == [x509.RFC822Name("jane@doe.com")]
    assert key_usages(cert) == {"digital_signature"} and ekus(cert) == SERVER_CLIENT


@pytest.mark.parametrize("inline", ["{{ toJson .Insecure.CR }}", "e3sgdG9Kc29uIC5JbnNlY3VyZS5DUiB9fQ=="])
def test_72_inline_template_plain_and_base64(ca: CA, ec_key: Any, inline: str) -> None:
    template = load_template_option(
        {"template": inline, "templateFile": "ignored.tpl"}, base_dir="/nonexistent"
    )
    assert template == defaults.CERTIFICATE_REQUEST_TEMPLATE
    csr = csr_for(ec_key, "svc", [x509.DNSName("svc.example.com")])
    cert = issue(ca, template, x509_data("svc", None, TOKEN, csr), csr)
    assert cert.subject.public_bytes() == csr.subject.public_bytes()
    assert san_list(cert) == [x509.DNSName("svc.example.com")]


TEMPLATE_74 = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"],
	"extensions": [
		{"id": "1.2.3.4", "value": {{ asn1Marshal .AuthorizationCrt.NotAfter | toJson }}},
		{"id": "1.2.3.5", "value": {{ asn1Set (asn1Marshal (first .Insecure.CR.DNSNames) "utf8") (asn1Enc "int:123456") | toJson }}},
		{"id": "1.2.3.6", "value": {{ asn1Seq (asn1Enc "YubiKey") (asn1Enc "int:123456") | toJson }}}
	]
}"""


def test_74_asn1_extensions(ca: CA, ec_key: Any) -> None:
    x5c_key = ec.generate_private_key(ec.SECP256R1())
    not_after = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    x5c = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x5c leaf")]))
        .issuer_name(ca.cert.subject)
        .public_key(x5c_key.public_key())
        .serial_number(3)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .sign(ca.key, hashes.SHA256())
    )
    csr = csr_for(ec_key, "host.example.com", [x509.DNSName("host.example.com")])
    data = x509_data("host.example.com", ["host.example.com"], TOKEN, csr, authorization_crt=x5c)
    cert = issue(ca, TEMPLATE_74, data, csr)
    assert ext(cert, x509.ObjectIdentifier("1.2.3.4")).value.value == b"\x17\x0d310506070809Z"
    assert ext(cert, x509.ObjectIdentifier("1.2.3.5")).value.value == (
        b"\x31\x17" + b"\x0c\x10host.example.com" + b"\x02\x03\x01\xe2\x40"
    )
    assert ext(cert, x509.ObjectIdentifier("1.2.3.6")).value.value == base64.b64decode(
        "MA4TB1l1YmlLZXkCAwHiQA=="
    )
    assert not ext(cert, x509.ObjectIdentifier("1.2.3.6")).critical
    snippet = '{"extensions": [{"id": "1.2.3.4", "critical": false, "value": {{ asn1Enc "int:3848281" | toJson }}}]}'
    cert = issue(ca, snippet, data, csr)
    assert ext(cert, x509.ObjectIdentifier("1.2.3.4")).value.value == base64.b64decode("AgM6uFk=")


TEMPLATE_77 = """{
	"subject": {{ toJson .Subject }},
{{- if .Insecure.User.dnsName }}
	"dnsNames": {{ toJson .Insecure.User.dnsName }},
{{- else }}
	"sans": {{ toJson .SANs }},
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""


def test_77_user_provided_values(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "backend")
    data = x509_data("backend", ["backend.internal"], TOKEN, csr, user={"dnsName": "backend.example.com"})
    assert san_list(issue(ca, TEMPLATE_77, data, csr)) == [x509.DNSName("backend.example.com")]
    data = x509_data("backend", ["backend.internal"], TOKEN, csr)  # no --set: .Insecure.User is absent
    assert san_list(issue(ca, TEMPLATE_77, data, csr)) == [x509.DNSName("backend.internal")]
    data = x509_data(
        "backend", ["backend.internal"], TOKEN, csr, user={"dnsName": "x"}, custom_template=False
    )
    assert san_list(issue(ca, TEMPLATE_77, data, csr)) == [x509.DNSName("backend.internal")]


TEMPLATE_78 = """{
    "subject": {{ toJson .Subject }},
    "keyUsage": ["certSign", "crlSign"],
    "basicConstraints": {
        "isCA": true,
        "maxPathLen": 0
    },
    "nameConstraints": {
        "critical": true,
        "permittedDNSDomains": ["example.com"]
    }
}"""


def test_78_name_constraints(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "Constrained Intermediate")
    cert = issue(ca, TEMPLATE_78, x509_data("Constrained Intermediate", None, None, csr), csr)
    nc = ext(cert, ExtensionOID.NAME_CONSTRAINTS)
    assert nc.critical and nc.value.permitted_subtrees == [x509.DNSName("example.com")]
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS).value
    assert bc.ca and bc.path_length == 0
    assert key_usages(cert) == {"key_cert_sign", "crl_sign"}


TEMPLATE_710 = """   {
           "subject": {{ toJson .Subject }},
           "keyUsage": ["certSign", "crlSign"],
           "basicConstraints": {
                   "isCA": true,
                   "maxPathLen": 0
           },
           "crlDistributionPoints": ["http://ca.example.com/1.0/crl"]
   }"""


def test_710_crl_distribution_point(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "Intermediate")
    for template in (
        TEMPLATE_710,
        defaults.DEFAULT_LEAF_TEMPLATE.replace(
            '"extKeyUsage": ["serverAuth", "clientAuth"]',
            '"extKeyUsage": ["serverAuth", "clientAuth"],\n\t"crlDistributionPoints": ["http://ca.example.com/1.0/crl"]',
        ),
    ):
        cert = issue(ca, template, x509_data("Intermediate", ["a.example.com"], TOKEN, csr), csr)
        crl = ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
        assert not crl.critical
        assert [dp.full_name for dp in crl.value] == [
            [x509.UniformResourceIdentifier("http://ca.example.com/1.0/crl")]
        ]


TEMPLATE_711 = """{
  "subject": {{ toJson .Subject }},
  "extensions": [
    {
      "id": "2.5.29.32",
      "value": {{
        asn1Seq
          (asn1Seq
            (asn1Enc "oid:1.3.6.1.4.1.99999.1.1.1")
            (asn1Seq (asn1Seq (asn1Enc "oid:1.3.6.1.5.5.7.2.1") (asn1Enc "ia5:http://example.com/cps")))
          )
        | toJson
      }}
    }
  ]
}"""


def test_711_certificate_policies_with_cps(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "policy")
    cert = issue(ca, TEMPLATE_711, x509_data("policy", None, TOKEN, csr), csr)
    policies = ext(cert, ExtensionOID.CERTIFICATE_POLICIES)
    assert not policies.critical
    assert policies.value.public_bytes() == base64.b64decode(
        "MDUwMwYLKwYBBAGGjR8BAQEwJDAiBggrBgEFBQcCARYWaHR0cDovL2V4YW1wbGUuY29tL2Nwcw=="
    )
    (info,) = list(policies.value)
    assert info.policy_identifier.dotted_string == "1.3.6.1.4.1.99999.1.1.1"
    assert info.policy_qualifiers == ["http://example.com/cps"]


OPENVPN_CLIENT = """{
  "subject": {"commonName": {{ toJson .Insecure.CR.Subject.CommonName }}},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyAgreement"],
  "extKeyUsage": ["clientAuth"]
}"""
OPENVPN_SERVER = """{
  "subject": {{ toJson .Subject }},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyEncipherment", "keyAgreement"],
  "extKeyUsage": ["serverAuth"]
}"""


def test_712_openvpn(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "laptop-from-csr")
    data = x509_data("vpn.example.com", ["vpn.example.com"], TOKEN, csr)
    client = issue(ca, OPENVPN_CLIENT, data, csr)
    assert client.subject.rfc4514_string() == "CN=laptop-from-csr"
    assert san_list(client) == [x509.DNSName("vpn.example.com")]
    assert key_usages(client) == {"digital_signature", "key_agreement"}
    assert ekus(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    server = issue(ca, OPENVPN_SERVER, data, csr)
    assert server.subject.rfc4514_string() == "CN=vpn.example.com"
    assert key_usages(server) == {"digital_signature", "key_encipherment", "key_agreement"}
    assert ekus(server) == [ExtendedKeyUsageOID.SERVER_AUTH]


GITHUB_713 = (
    # Verbatim from the docs, which mix tabs and spaces (written with escapes to keep linters quiet).
    "{\n"
    '\t"type": {{ toJson .Type }},\n'
    '\t"keyId": {{ toJson .KeyID }},\n'
    '\t"principals": {{ toJson .Principals }},\n'
    '\t"criticalOptions": {{ toJson .CriticalOptions }},\n'
    "{{ if .Token.ghu }}\n"
    '\t"extensions": {\n'
    '\t  "login@github.com": {{ toJson .Token.ghu }}\n'
    "\t}\n"
    "{{ else }}\n"
    '\t"extensions": {{ toJson .Extensions }}\n'
    "{{ end }}\n"
    "}"
)


def test_713_github_login_extension(ssh_key: Any) -> None:
    token = {"aud": "https://ca/1.0/ssh/sign", "exp": 1606870196, "ghu": "tashian", "iss": "carl@smallstep.com",
             "sub": "carl", "step": {"ssh": {"certType": "user", "keyID": "carl"}}}  # fmt: skip
    cert = ssh_sign(
        render_ssh(GITHUB_713, ssh_data("user", "carl", ["carl"], token=token, public_key=ssh_key))
    )
    assert cert.extensions == {b"login@github.com": b"tashian"}
    assert cert.key_id == b"carl" and cert.valid_principals == [b"carl"]
    del token["ghu"]
    cert = ssh_sign(
        render_ssh(GITHUB_713, ssh_data("user", "carl", ["carl"], token=token, public_key=ssh_key))
    )
    assert set(cert.extensions) == {e.encode() for e in defaults_user_extensions()}


GROUPS_714 = """  {
    "type": {{ toJson .Type }},
    "keyId": {{ toJson .KeyID }},
    "principals": {{ toJson ((concat .Principals (splitList " " .Token.groups)) | uniq) }},
    "criticalOptions": {{ toJson .CriticalOptions }},
    "extensions": {{ toJson .Extensions }}
  }"""


def test_714_group_principals(ssh_key: Any) -> None:
    data = ssh_data("user", "jane@doe.com", ["jane", "jane@doe.com"], token={"groups": "admins jane ops"},
                    public_key=ssh_key)  # fmt: skip
    desc = render_ssh(GROUPS_714, data)
    assert desc.principals == ("jane", "jane@doe.com", "admins", "ops")
    data = ssh_data("user", "jane", ["jane"], token={"groups": ["admins"]}, public_key=ssh_key)
    with pytest.raises(TemplateError):
        render_ssh(GROUPS_714, data)


X5C_715 = """{
        "type": {{ toJson .Type }},
        "keyId": {{ toJson .AuthorizationCrt.Subject.CommonName }},
        "principals": [
            {{ replace "@example.com" "" .AuthorizationCrt.Subject.CommonName | toJson }},
            {{ toJson .AuthorizationCrt.Subject.CommonName }}
        ],
        "extensions": {{ toJson .Extensions }},
        "criticalOptions": {{ toJson .CriticalOptions }}
    }"""


def test_715_ssh_from_x5c(ca: CA, ssh_key: Any) -> None:
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice@example.com")]))
        .issuer_name(ca.cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(11)
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(hours=1))
        .sign(ca.key, hashes.SHA256())
    )
    data = ssh_data("user", "sub", ["sub"], public_key=ssh_key, authorization_crt=leaf)
    desc = render_ssh(X5C_715, data)
    assert desc.key_id == "alice@example.com"
    assert desc.principals == ("alice", "alice@example.com")
    cert = ssh_sign(desc)
    assert cert.valid_principals == [b"alice", b"alice@example.com"]


WEBHOOK_716 = """    {
      "subject": {
        "organizationalUnit": {{ toJson .Webhooks.people.role }}
      }
    }"""


def test_716_webhook_subject(ca: CA, ec_key: Any) -> None:
    csr = csr_for(ec_key, "jane")
    data = x509_data("jane", ["jane@doe.com"], TOKEN, csr, webhooks={"people": {"role": "eng"}})
    cert = issue(ca, WEBHOOK_716, data, csr)
    assert cert.subject.rfc4514_string() == "OU=eng"
    assert not has(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME) and not has(cert, ExtensionOID.KEY_USAGE)
    cert = issue(ca, WEBHOOK_716, data, csr, subject_defaults={"commonName": "default"})
    assert cert.subject.rfc4514_string() == "CN=default,OU=eng"


GITHUB_717 = """{
	"type": "{{ .Type }}",
	"keyId": "{{ .KeyID }}",
	"principals": {{ toJson .Principals }},
{{- if .Insecure.User.username }}
	"extensions": {{ set .Extensions "login@github.com" .Insecure.User.username | toJson }}
{{- else }}
    "extensions": {{ toJson .Extensions }}
{{- end }}
}"""


def test_717_ssh_with_user_data(ssh_key: Any) -> None:
    data = ssh_data("user", "jdoe", ["jdoe"], public_key=ssh_key, user={"username": "jdoe"})
    desc = render_ssh(GITHUB_717, data)
    assert desc.extensions == {**{e: "" for e in defaults_user_extensions()}, "login@github.com": "jdoe"}
    data = ssh_data("host", "h", ["h"], public_key=ssh_key, user={"username": "jdoe"})
    with pytest.raises(TemplateError):  # `set` on the nil host extensions map panics
        render_ssh(GITHUB_717, data)


EXAMPLE_718 = """{
	"subject": {{ toJson .Insecure.CR.Subject }},
	"sans": {{ toJson .SANs }},
{{- if .Insecure.CR.EmailAddresses }}
	"emailAddresses": {{ toJson .Insecure.CR.EmailAddresses }},
{{- end }}
{{- if .Token }}
	"uris": "{{ .Token.iss }}#{{ .Token.sub }}",
{{- end }}
	"notBefore": "{{ dateInZone "2006-01-02T15:04:05Z07:00" .Token.nbf "UTC" }}",
	"notAfter": "{{ .Webhooks.Test.notAfter }}",
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	{{- if lt .Insecure.CR.PublicKey.Size 384 }}
		{{ fail "Key length must be at least 3072 bits" }}
	{{- end }}
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""


def test_718_fail_and_webhook_fixture(ca: CA, ec_key: Any, rsa_key: Any) -> None:
    token = {"iss": "https://idp.example.com", "sub": "1234", "nbf": 1606869896}
    webhooks = {"Test": {"notAfter": (NOW + dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    csr = csr_for(rsa_key, "small-rsa")
    with pytest.raises(TemplateError) as info:
        render_x509(EXAMPLE_718, x509_data("x", ["x.example.com"], token, csr, webhooks=webhooks))
    assert getattr(info.value, "fail_message", None) == "Key length must be at least 3072 bits"
    csr = csr_for(ec_key, "svc", [x509.RFC822Name("ops@example.com"), x509.DNSName("ignored.example.com")])
    desc = render_x509(EXAMPLE_718, x509_data("x", ["svc.example.com"], token, csr, webhooks=webhooks))
    assert desc.not_after == NOW + dt.timedelta(hours=6)
    assert desc.not_before is not None  # float64 nbf: dateInZone renders "now"
    cert = ca.sign(desc, csr.public_key())
    assert cert.subject.rfc4514_string() == "CN=svc"
    assert san_list(cert) == [
        x509.DNSName("svc.example.com"),
        x509.RFC822Name("ops@example.com"),
        x509.UniformResourceIdentifier("https://idp.example.com#1234"),
    ]


# -- errors through the renderer ------------------------------------------------------------------------------


def test_bad_rendered_json_is_a_description_error_naming_the_template(ec_key: Any) -> None:
    data = x509_data("x", None, None, csr_for(ec_key, "x"))
    with pytest.raises(DescriptionError) as info:
        render_x509('{"subject": {{ toJson .Subject }}, "keyUsage": ["bogus"]}', data, name="custom.tpl")
    assert info.value.template == "custom.tpl"
    assert "unsupported keyUsage bogus" in str(info.value)
    with pytest.raises(DescriptionError, match="error unmarshaling certificate"):
        render_x509('{"subject": {{ .Subject.CommonName }}}', data)


def test_parse_errors_are_template_errors_and_are_not_cached(ec_key: Any) -> None:
    data = x509_data("x", None, None, csr_for(ec_key, "x"))
    for _ in range(2):
        with pytest.raises(TemplateError):
            render_x509('{{ env "HOME" }}', data)


def test_parsed_templates_are_cached(ec_key: Any) -> None:
    from plica.certdesc import render as render_module

    clear_cache()
    data = x509_data("x", None, None, csr_for(ec_key, "x"))
    render_x509(defaults.DEFAULT_LEAF_TEMPLATE.replace('"sans": {{ toJson .SANs }},', ""), data)
    render_x509(defaults.DEFAULT_LEAF_TEMPLATE.replace('"sans": {{ toJson .SANs }},', ""), data)
    assert len(render_module._cache) == 1


# -- template options (§6.1) ----------------------------------------------------------------


def test_template_option_precedence_and_forms(tmp_path: Path) -> None:
    (tmp_path / "leaf.tpl").write_text("{ file }")
    assert load_template_option(None, base_dir=str(tmp_path)) is None
    assert load_template_option({}, base_dir=str(tmp_path)) is None
    assert load_template_option({"templateData": {"a": 1}}, base_dir=str(tmp_path)) is None
    assert load_template_option({"templateFile": "leaf.tpl"}, base_dir=str(tmp_path)) == "{ file }"
    assert (
        load_template_option({"template": "  {inline}\n", "templateFile": "leaf.tpl"}, base_dir="")
        == "{inline}"
    )
    encoded = base64.b64encode(b'{"subject": "x"}').decode()
    assert load_template_option({"template": f"\n{encoded}\n"}, base_dir="") == '{"subject": "x"}'
    assert has_custom_template({"templateFile": "x"}) and not has_custom_template({"templateData": {}})


def test_template_file_is_read_on_every_call(tmp_path: Path) -> None:
    path = tmp_path / "t.tpl"
    path.write_text("one")
    assert load_template_option({"templateFile": str(path)}, base_dir="/") == "one"
    path.write_text("two")
    assert load_template_option({"templateFile": str(path)}, base_dir="/") == "two"


def test_template_option_errors(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match="error decoding template"):
        load_template_option({"template": "not base64 at all!"}, base_dir=str(tmp_path))
    with pytest.raises(DescriptionError, match="error reading template file"):
        load_template_option({"templateFile": "missing.tpl"}, base_dir=str(tmp_path))


def test_step_abs_path_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/step")
    assert resolve_template_path("/etc/t.tpl", base_dir="/steppath") == "/etc/t.tpl"
    assert resolve_template_path("~/t.tpl", base_dir="/steppath") == "/home/step/t.tpl"
    assert resolve_template_path("./t.tpl", base_dir="/steppath") == os.path.join(str(tmp_path), "t.tpl")
    assert resolve_template_path("../t.tpl", base_dir="/steppath") == os.path.join(
        str(tmp_path.parent), "t.tpl"
    )
    assert resolve_template_path("templates/t.tpl", base_dir="/steppath") == "/steppath/templates/t.tpl"


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
    if spec.exists():  # every default appears verbatim in the spec
        text = spec.read_text()
        for template in [*defaults.X509_TEMPLATES.values(), *defaults.SSH_TEMPLATES.values()]:
            assert f"```\n{template}\n```" in text
