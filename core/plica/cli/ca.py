"""`plica init` and `plica start`."""

from __future__ import annotations

import logging
import secrets
import sys
from pathlib import Path

import click

from plica import config as config_mod
from plica.cli.common import default_home, home_option, read_password_file
from plica.errors import ConfigError, KeyUnavailable, PluginError, StartError
from plica.initca import InitOptions, init_ca, write_password_file
from plica.keys import KeyDecryptError
from plica.plugins import get_plugins
from plica.storage import StorageError


@click.command("init")
@home_option
@click.option("--name", help="Name of the PKI (root and intermediate subjects).")
@click.option("--dns", "dns_names", multiple=True, help="DNS name or IP of the CA (repeatable).")
@click.option("--address", help="Address the CA listens on, e.g. ':9000' or '127.0.0.1:8443'.")
@click.option("--provisioner", help="Name of the first (JWK) provisioner.")
@click.option(
    "--kty",
    type=click.Choice(["EC", "RSA"], case_sensitive=False),
    default="EC",
    show_default=True,
    help="CA key type (RSA for CAs that will serve SCEP).",
)
@click.option("--ssh", is_flag=True, help="Also create SSH user and host CA keys.")
@click.option(
    "--password-file", type=click.Path(exists=True, dir_okay=False), help="Password for the CA keys."
)
@click.option(
    "--provisioner-password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Password for the provisioner key (default: the CA password).",
)
@click.option("--insecure-address", default="", help="Optional plain-HTTP address (for SCEP/CRL).")
@click.option(
    "--remote-management",
    is_flag=True,
    help="Provisioners in the database, managed through the admin API: the first one is 'Admin JWK', "
    "and 'step' its super admin.",
)
@click.option(
    "--kms",
    help="Create the CA keys in this key manager instead of files, e.g. "
    "'pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=plica?pin-source=file:/etc/plica/pin'.",
)
@click.option(
    "--root",
    "root_cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An existing (offline) root certificate: with --key, the root key is not created.",
)
@click.option(
    "--key",
    "root_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The key file of --root (encrypted with the CA password).",
)
def init_cmd(
    home: Path | None,
    name: str | None,
    dns_names: tuple[str, ...],
    address: str | None,
    provisioner: str | None,
    kty: str,
    ssh: bool,
    password_file: str | None,
    provisioner_password_file: str | None,
    insecure_address: str,
    remote_management: bool,
    kms: str | None,
    root_cert: Path | None,
    root_key: Path | None,
) -> None:
    """Create a new CA: root and intermediate certificates, encrypted keys, ca.json, a JWK provisioner.

    Flags not given are asked for interactively."""
    home = home or default_home()
    name = name or click.prompt("What would you like to name your new PKI?", default="Plica")
    if not dns_names:
        dns = click.prompt(
            "What DNS names or IP addresses will clients use to reach your CA? (comma-separated)",
            default="localhost,127.0.0.1",
        )
        dns_names = tuple(d.strip() for d in dns.split(",") if d.strip())
    address = address or click.prompt("What IP and port will your new CA bind to?", default=":9000")
    if remote_management:
        provisioner = provisioner or "Admin JWK"
    provisioner = provisioner or click.prompt(
        "What would you like to name the CA's first provisioner?", default="admin"
    )
    password = read_password_file(password_file)
    if password is None:
        password = click.prompt(
            "Choose a password for your CA keys and first provisioner",
            hide_input=True,
            confirmation_prompt=True,
        ).encode()
    ppw = read_password_file(provisioner_password_file)
    if (root_cert is None) != (root_key is None):
        raise click.UsageError("--root and --key go together")
    try:
        res = init_ca(
            InitOptions(
                home=home,
                name=name,
                dns_names=dns_names,
                address=address,
                provisioner=provisioner,
                kty=kty.upper(),
                ssh=ssh,
                password=password,
                provisioner_password=ppw,
                insecure_address=insecure_address,
                kms=kms,
                root_cert=root_cert,
                root_key=root_key,
            ),
            get_plugins(),
        )
    except (FileExistsError, ConfigError, KeyDecryptError) as e:
        raise click.ClickException(str(e)) from None
    except KeyUnavailable as e:
        raise click.ClickException(f"{e.message}: {e.detail}") from None
    if remote_management:
        from plica.admin.provstore import remote_management_init

        for p in remote_management_init(res.config_path, get_plugins()):
            click.echo(f"✔ Provisioner in the database: {p.name} ({p.type})")
        click.echo("✔ Super admin: step")
    click.echo(f"✔ Root certificate: {res.root_path}")
    click.echo(f"✔ Root fingerprint: {res.fingerprint}")
    click.echo(f"✔ CA configuration: {res.config_path}")
    click.echo(f"✔ CA URL: {res.ca_url}")
    click.echo("Your PKI is ready to go. Start it with: plica start" + (f" --home {home}" if home else ""))


@click.command("start")
@home_option
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Path to ca.json (default <home>/config/ca.json).",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Password that decrypts the CA keys (default: ca.json 'password', or <home>/secrets/password).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes sharing the port and the database.",
)
@click.option(
    "--init",
    "init_first",
    is_flag=True,
    help="Initialise a new CA in <home> first if there is none (non-interactive: random password "
    "stored in <home>/secrets/password, EC keys, SSH CA, JWK provisioner 'admin').",
)
@click.option("--address", help="With --init: the address to listen on (default :9000).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def start_cmd(
    home: Path | None,
    config_path: Path | None,
    password_file: str | None,
    workers: int,
    init_first: bool,
    address: str | None,
    verbose: bool,
) -> None:
    """Run the CA in the foreground. SIGHUP reloads ca.json; SIGTERM stops gracefully."""
    # The server (aiohttp, the authority, templates) is imported by the one command that runs it, so
    # that every other command starts without it.
    from plica.http.server import main_log_setup, run

    main_log_setup(logging.DEBUG if verbose else logging.INFO)
    home = home or default_home()
    cfg_path = config_path or home / "config" / "ca.json"
    pw_default = home / "secrets" / "password"
    if init_first and not cfg_path.exists():
        password = secrets.token_urlsafe(24).encode()
        res = init_ca(
            InitOptions(home=home, ssh=True, password=password, address=address or ":9000"), get_plugins()
        )
        write_password_file(pw_default, password)
        click.echo(f"Initialised a new CA in {home}", err=True)
        click.echo(f"  root fingerprint: {res.fingerprint}", err=True)
        click.echo(f"  CA and provisioner 'admin' password: in {pw_default} (0600)", err=True)
    if not cfg_path.exists():
        raise click.ClickException(
            f"{cfg_path} does not exist: run `plica init` first (or `plica start --init`)"
        )
    password = read_password_file(password_file)
    if password is None:
        try:
            cfg = config_mod.load(cfg_path)
        except ConfigError as e:
            raise click.ClickException(f"invalid configuration: {e}") from None
        if cfg.password:
            password = cfg.password.encode()
        elif pw_default.exists():
            password = read_password_file(str(pw_default))
        elif sys.stdin.isatty():
            password = click.prompt(
                "Please enter the password to decrypt the CA keys", hide_input=True
            ).encode()
    try:
        code = run(cfg_path, password, workers=workers)
    except (ConfigError, PluginError, KeyDecryptError, StorageError, StartError) as e:
        raise click.ClickException(f"cannot start: {e}") from None
    except KeyUnavailable as e:  # the token went away while the CA was starting
        raise click.ClickException(f"cannot start: {e.message}: {e.detail}") from None
    sys.exit(code)
