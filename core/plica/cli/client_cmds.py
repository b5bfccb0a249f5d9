"""Client commands: token, certificate, renew, rekey, revoke, root, ssh certificate/revoke/renew/rekey.

Tokens are made by the plugin of the provisioner's type (hook `client_token`), so these commands work for
every installed type; type-specific flags come from the plugins (`cli_client_options`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from plica.cli import lazy
from plica.client import CAClient, CAClientError, fetch_root
from plica.clientkit import ca_options, client_for, make_token, refused, write_ssh_cert
from plica.jose import sign_compact
from plica.keys import generate, write_private_file
from plica.names import split_sans
from plica.tokens import token_claims

# Every plugin's client flags (`--x5c-cert`, ...), attached when the command runs (plica.cli.lazy).
plugin_options = lazy.plugin_options("cli_client_options")


@click.command("token")
@click.argument("subject")
@click.option("--san", "sans", multiple=True, help="Subject alternative name (repeatable).")
@click.option("--revoke", is_flag=True, help="Make a revocation token (SUBJECT is the serial number).")
@click.option("--ssh", is_flag=True, help="Make an SSH signing token.")
@click.option("--host", is_flag=True, help="With --ssh: for a host certificate.")
@click.option("--principal", "principals", multiple=True, help="With --ssh: principal (repeatable).")
@ca_options
@plugin_options
def token_cmd(
    subject: str,
    sans: tuple[str, ...],
    revoke: bool,
    ssh: bool,
    host: bool,
    principals: tuple[str, ...],
    **kw: Any,
) -> None:
    """Print a one-time token for SUBJECT (like `step ca token`)."""
    client = client_for(kw)
    try:
        if revoke:
            click.echo(make_token(client, kw, "revoke", subject, []))
        elif ssh:
            opts = {
                "certType": "host" if host else "user",
                "keyID": subject,
                "principals": list(principals) or [subject],
            }
            click.echo(make_token(client, kw, "ssh-sign", subject, [], {"step": {"ssh": opts}}))
        else:
            click.echo(make_token(client, kw, "sign", subject, list(sans) or [subject]))
    except CAClientError as e:
        raise refused(e) from None


def _write_chain(path: str, resp: dict[str, Any]) -> None:
    Path(path).write_text("".join(resp.get("certChain") or [resp["crt"], resp["ca"]]))


@click.command("certificate")
@click.argument("subject")
@click.argument("crt_file", type=click.Path(dir_okay=False))
@click.argument("key_file", type=click.Path(dir_okay=False))
@click.option("--san", "sans", multiple=True, help="Subject alternative name (repeatable; default SUBJECT).")
@click.option("--not-before", help="RFC 3339 time or duration (e.g. 5m).")
@click.option("--not-after", help="RFC 3339 time or duration (e.g. 24h).")
@click.option(
    "--kty", type=click.Choice(["EC", "RSA", "OKP"]), default="EC", show_default=True, help="Key type."
)
@click.option("--token", help="Use this token instead of making one.")
@click.option("--set", "template_data", multiple=True, help="Template data key=value (repeatable).")
@ca_options
@plugin_options
def certificate_cmd(
    subject: str,
    crt_file: str,
    key_file: str,
    sans: tuple[str, ...],
    not_before: str | None,
    not_after: str | None,
    kty: str,
    token: str | None,
    template_data: tuple[str, ...],
    **kw: Any,
) -> None:
    """Get a certificate: make a key and CSR, get a token, and have the CA sign (like `step ca certificate`)."""
    client = client_for(kw)
    names = list(sans) or [subject]
    key = generate(kty)
    csr = build_csr(key, subject, names)
    try:
        ott = token or make_token(client, kw, "sign", subject, names)
        body: dict[str, Any] = {"csr": csr, "ott": ott}
        if not_before:
            body["notBefore"] = not_before
        if not_after:
            body["notAfter"] = not_after
        if template_data:
            body["templateData"] = dict(kv.split("=", 1) for kv in template_data if "=" in kv)
        resp = client.post("/sign", body)
    except CAClientError as e:
        raise refused(e) from None
    _write_chain(crt_file, resp)
    write_private_file(
        Path(key_file),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    click.echo(f"✔ Certificate: {crt_file}")
    click.echo(f"✔ Private Key: {key_file}")


def build_csr(key: Any, subject: str, names: list[str]) -> str:
    s = split_sans(names)
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    )
    if s:
        b = b.add_extension(x509.SubjectAlternativeName(s.general_names()), critical=False)
    csr = b.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@click.command("renew")
@click.argument("crt_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write the new certificate here (default: CRT_FILE)."
)
@click.option(
    "--expired",
    is_flag=True,
    help="Renew with a renew token instead of mTLS (works for expired certs "
    "when the provisioner allows renewal after expiry).",
)
@click.option("--ca-url", envvar="PLICA_CA_URL")
@click.option("--root", envvar="PLICA_ROOT", type=click.Path(dir_okay=False))
def renew_cmd(crt_file: str, key_file: str, out: str | None, expired: bool, **kw: Any) -> None:
    """Renew a certificate with the certificate itself (mTLS), like `step ca renew`."""
    client = client_for(kw)
    try:
        if expired:
            resp = client.post(
                "/renew", None, {"Authorization": f"Bearer {renew_token(client, crt_file, key_file)}"}
            )
        else:
            client.cert = (crt_file, key_file)
            resp = client.post("/renew")
    except CAClientError as e:
        raise refused(e) from None
    _write_chain(out or crt_file, resp)
    click.echo(f"✔ Certificate: {out or crt_file}")


def renew_token(client: CAClient, crt_file: str, key_file: str) -> str:
    certs = x509.load_pem_x509_certificates(Path(crt_file).read_bytes())
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
    cn = certs[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    alg = (
        "EdDSA"
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else (
            {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
            if isinstance(key, ec.EllipticCurvePrivateKey)
            else "RS256"
        )
    )
    header = {
        "alg": alg,
        "typ": "JWT",
        "x5cInsecure": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs],
    }
    claims = token_claims(
        "step-ca-client/1.0", str(cn[0].value) if cn else "", client.ca_url.rstrip("/") + "/1.0/renew"
    )
    return sign_compact(header, claims, key)  # type: ignore[arg-type]


@click.command("rekey")
@click.argument("crt_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out-cert", type=click.Path(dir_okay=False))
@click.option("--out-key", type=click.Path(dir_okay=False))
@click.option("--kty", type=click.Choice(["EC", "RSA", "OKP"]), default="EC")
@click.option("--ca-url", envvar="PLICA_CA_URL")
@click.option("--root", envvar="PLICA_ROOT", type=click.Path(dir_okay=False))
def rekey_cmd(
    crt_file: str, key_file: str, out_cert: str | None, out_key: str | None, kty: str, **kw: Any
) -> None:
    """Get a certificate for a new key, authenticated by the current certificate (mTLS)."""
    client = client_for(kw)
    client.cert = (crt_file, key_file)
    cert = x509.load_pem_x509_certificates(Path(crt_file).read_bytes())[0]
    key = generate(kty)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    csr = build_csr(key, str(cn[0].value) if cn else "", [])
    try:
        resp = client.post("/rekey", {"csr": csr})
    except CAClientError as e:
        raise refused(e) from None
    _write_chain(out_cert or crt_file, resp)
    write_private_file(
        Path(out_key or key_file),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    click.echo(f"✔ Certificate: {out_cert or crt_file}")


@click.command("revoke")
@click.argument("serial", required=False)
@click.option("--reason", default="", help="Reason for the revocation.")
@click.option("--reason-code", type=click.IntRange(0, 10), default=0, help="RFC 5280 CRLReason code.")
@click.option(
    "--cert",
    "cert_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Revoke this certificate, authenticating with it and --key-file (mTLS).",
)
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False), help="Key of --cert.")
@click.option("--token", help="Use this revocation token.")
@ca_options
@plugin_options
def revoke_cmd(
    serial: str | None,
    reason: str,
    reason_code: int,
    cert_file: str | None,
    key_file: str | None,
    token: str | None,
    **kw: Any,
) -> None:
    """Revoke a certificate (passively: the CA refuses to renew it), by token or with the certificate (mTLS)."""
    client = client_for(kw)
    body: dict[str, Any] = {"reason": reason, "reasonCode": reason_code, "passive": True}
    try:
        if cert_file:
            if not key_file:
                raise click.UsageError("--cert needs --key-file")
            cert = x509.load_pem_x509_certificates(Path(cert_file).read_bytes())[0]
            body["serial"] = str(cert.serial_number)
            client.cert = (cert_file, key_file)
        else:
            if not serial:
                raise click.UsageError("give a SERIAL (or --cert and --key-file)")
            body["serial"] = serial
            body["ott"] = token or make_token(client, kw, "revoke", serial, [])
        client.post("/revoke", body)
    except CAClientError as e:
        raise refused(e) from None
    click.echo(f"✔ Certificate with serial number {body['serial']} has been revoked.")


@click.command("root")
@click.argument("root_file", type=click.Path(dir_okay=False))
@click.option("--ca-url", envvar="PLICA_CA_URL", required=True)
@click.option("--fingerprint", required=True, help="SHA-256 fingerprint of the root to trust.")
def root_cmd(root_file: str, ca_url: str, fingerprint: str) -> None:
    """Download the CA's root certificate and check its fingerprint (like `step ca root`)."""
    try:
        data = fetch_root(ca_url, fingerprint)
    except CAClientError as e:
        raise refused(e) from None
    Path(root_file).write_bytes(data)
    click.echo(f"✔ Root certificate: {root_file} (fingerprint verified)")


# ------------------------------------------------------------------------------------------------ ssh


@click.group("ssh")
def ssh_group() -> None:
    """SSH certificates."""


def _ssh_key(key_file: str, sign: bool) -> tuple[Any, bytes]:
    pub_path = Path(key_file + ".pub")
    if sign:
        if not pub_path.exists():
            raise click.UsageError(f"--sign needs an existing public key {pub_path}")
        pub = serialization.load_ssh_public_key(pub_path.read_bytes())
        return None, pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    key = generate("OKP")
    write_private_file(
        Path(key_file),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    )
    pub_line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    pub_path.write_bytes(pub_line + b"\n")
    return key, pub_line


@ssh_group.command("certificate")
@click.argument("key_id")
@click.argument("key_file", type=click.Path(dir_okay=False))
@click.option("--host", is_flag=True, help="Make a host certificate (default: user).")
@click.option("--principal", "principals", multiple=True, help="Principal (repeatable; default KEY_ID).")
@click.option("--sign", is_flag=True, help="Sign the existing KEY_FILE.pub instead of making a new key.")
@click.option("--not-before", help="RFC 3339 time or duration.")
@click.option("--not-after", help="RFC 3339 time or duration.")
@click.option("--token", help="Use this token.")
@ca_options
@plugin_options
def ssh_certificate_cmd(
    key_id: str,
    key_file: str,
    host: bool,
    principals: tuple[str, ...],
    sign: bool,
    not_before: str | None,
    not_after: str | None,
    token: str | None,
    **kw: Any,
) -> None:
    """Get an SSH user or host certificate for KEY_FILE (written as KEY_FILE-cert.pub)."""
    client = client_for(kw)
    cert_type = "host" if host else "user"
    princ = list(principals) or [key_id]
    _, pub_line = _ssh_key(key_file, sign)
    opts: dict[str, Any] = {"certType": cert_type, "keyID": key_id, "principals": princ}
    if not_before:
        opts["validAfter"] = not_before
    if not_after:
        opts["validBefore"] = not_after
    try:
        ott = token or make_token(client, kw, "ssh-sign", key_id, [], {"step": {"ssh": opts}})
        body = {
            "publicKey": pub_line.split(b" ")[1].decode(),
            "ott": ott,
            "certType": cert_type,
            "keyID": key_id,
            "principals": princ,
            "validAfter": not_before or "",
            "validBefore": not_after or "",
        }
        resp = client.post("/ssh/sign", body)
    except CAClientError as e:
        raise refused(e) from None
    out = Path(key_file + "-cert.pub")
    write_ssh_cert(out, resp["crt"])
    click.echo(f"✔ Certificate: {out}")


@ssh_group.command("revoke")
@click.argument("serial")
@click.option("--reason", default="")
@click.option("--reason-code", type=click.IntRange(0, 10), default=0)
@click.option("--token", help="Use this token.")
@ca_options
@plugin_options
def ssh_revoke_cmd(serial: str, reason: str, reason_code: int, token: str | None, **kw: Any) -> None:
    """Revoke an SSH certificate by serial number."""
    client = client_for(kw)
    try:
        ott = token or make_token(client, kw, "ssh-revoke", serial, [])
        client.post(
            "/ssh/revoke",
            {"serial": serial, "ott": ott, "reason": reason, "reasonCode": reason_code, "passive": True},
        )
    except CAClientError as e:
        raise refused(e) from None
    click.echo(f"✔ SSH certificate with serial number {serial} has been revoked.")
