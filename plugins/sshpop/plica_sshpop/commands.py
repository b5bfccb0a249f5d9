"""`plica ssh renew` and `plica ssh rekey` (like `step ssh renew|rekey`): an SSH host certificate, with its
key, authenticates its own renewal. The kernel merges these into its `plica ssh` group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization

from plica.api import (
    CAClient,
    CAClientError,
    ca_options,
    client_for,
    generate,
    hookimpl,
    make_token,
    refused,
    write_private_file,
    write_ssh_cert,
)
from plica_sshpop.client import load_certificate


def _commands() -> list[click.Command]:
    """A new `ssh` group each time the CLI is built; the kernel moves its commands into its own."""

    def sshpop_provisioner(client: CAClient, name: str | None) -> str:
        if name:
            return name
        names = [
            str(p.get("name")) for p in client.provisioners() if str(p.get("type", "")).upper() == "SSHPOP"
        ]
        if len(names) == 1:
            return names[0]
        if not names:
            raise click.ClickException("the CA has no SSHPOP provisioner (plica init --ssh adds one)")
        raise click.UsageError(
            f"the CA has several SSHPOP provisioners ({', '.join(names)}): choose one with --provisioner"
        )

    def token(client: CAClient, kw: dict[str, Any], operation: str, cert_file: str, key_file: str) -> str:
        serial = str(load_certificate(cert_file).serial)
        opts = {**kw, "provisioner": sshpop_provisioner(client, kw.get("provisioner")),
                "sshpop_cert": cert_file, "sshpop_key": key_file}  # fmt: skip
        return make_token(client, opts, operation, serial, [])

    @click.group("ssh")
    def ssh_group() -> None:
        """SSH certificates."""

    @ssh_group.command("renew")
    @click.argument("cert_file", type=click.Path(exists=True, dir_okay=False))
    @click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--out", type=click.Path(dir_okay=False), help="Write the new certificate here (default: CERT_FILE)."
    )
    @ca_options
    def renew_cmd(cert_file: str, key_file: str, out: str | None, **kw: Any) -> None:
        """Renew an SSH host certificate, authenticated by itself and its key (SSHPOP)."""
        client = client_for(kw)
        try:
            resp = client.post("/ssh/renew", {"ott": token(client, kw, "ssh-renew", cert_file, key_file)})
        except CAClientError as e:
            raise refused(e) from None
        dest = Path(out or cert_file)
        write_ssh_cert(dest, resp["crt"])
        click.echo(f"✔ Certificate: {dest}")

    @ssh_group.command("rekey")
    @click.argument("cert_file", type=click.Path(exists=True, dir_okay=False))
    @click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--out",
        type=click.Path(dir_okay=False),
        help="Path of the new private key (default: KEY_FILE, replaced); the public key goes to OUT.pub and "
        "the certificate to OUT-cert.pub.",
    )
    @click.option(
        "--kty",
        type=click.Choice(["EC", "RSA", "OKP"]),
        default="OKP",
        show_default=True,
        help="New key type.",
    )
    @ca_options
    def rekey_cmd(cert_file: str, key_file: str, out: str | None, kty: str, **kw: Any) -> None:
        """Get an SSH host certificate for a new key, with the principals of CERT_FILE (SSHPOP)."""
        client = client_for(kw)
        new_key = generate(kty)
        pub_line = new_key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        body = {"publicKey": pub_line.split(b" ")[1].decode()}
        try:
            body["ott"] = token(client, kw, "ssh-rekey", cert_file, key_file)
            resp = client.post("/ssh/rekey", body)
        except CAClientError as e:
            raise refused(e) from None
        # Nothing is written until the CA has answered, so a refusal leaves the old key pair intact.
        key_path = Path(out or key_file)
        write_private_file(
            key_path,
            new_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            ),
        )
        Path(f"{key_path}.pub").write_bytes(pub_line + b"\n")
        cert_path = Path(f"{key_path}-cert.pub")
        write_ssh_cert(cert_path, resp["crt"])
        click.echo(f"✔ Private Key: {key_path}")
        click.echo(f"✔ Public Key: {key_path}.pub")
        click.echo(f"✔ Certificate: {cert_path}")

    return [ssh_group]


@hookimpl
def cli_commands() -> list[click.Command]:
    return _commands()
