"""`plica provisioner add|update --type K8sSA`: the ca.json block."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click

from plica.api import KeysError, check_url, file_option, hookimpl, parse_public_keys


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        file_option(
            "--pem-keys",
            multiple=True,
            help="K8sSA: PEM file of the public key(s) that sign service-account tokens (repeatable; e.g. "
            "the kube-apiserver's --service-account-key-file).",
        ),
        click.Option(
            ["--k8ssa-issuer"],
            multiple=True,
            help="K8sSA: accept bound service-account tokens of this issuer (repeatable; the first one is "
            "used for key discovery), e.g. https://kubernetes.default.svc.cluster.local.",
        ),
        click.Option(
            ["--k8ssa-audience"],
            multiple=True,
            help="K8sSA: bound tokens must carry one of these audiences (repeatable; default: the CA's URLs).",
        ),
        click.Option(
            ["--k8ssa-jwks-url"],
            default=None,
            help="K8sSA: fetch the signing keys from this JWKS URL instead of the issuer's discovery document.",
        ),
        file_option(
            "--k8ssa-discovery-roots",
            help="K8sSA: PEM CA bundle that signs the discovery/JWKS server's TLS certificate (e.g. the "
            "cluster CA).",
        ),
        click.Option(
            ["--k8ssa-disable-discovery"],
            is_flag=True,
            default=None,
            help="K8sSA: never fetch keys from the cluster; use only --pem-keys.",
        ),
    ]


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    block = dict(existing or {"type": "K8sSA", "name": name})
    if options.get("pem_keys"):
        pem = b"".join(Path(p).read_bytes().rstrip(b"\n") + b"\n" for p in options["pem_keys"])
        value = base64.b64encode(pem).decode()
        try:
            parse_public_keys(value)
        except KeysError as e:
            raise click.UsageError(f"--pem-keys: {e}") from None
        block["publicKeys"] = value
    if options.get("k8ssa_issuer"):
        block["issuers"] = list(options["k8ssa_issuer"])
    if options.get("k8ssa_audience"):
        block["audiences"] = list(options["k8ssa_audience"])
    if options.get("k8ssa_jwks_url"):
        try:
            block["jwksURL"] = check_url(options["k8ssa_jwks_url"], "--k8ssa-jwks-url")
        except ValueError as e:
            raise click.UsageError(str(e)) from None
    if options.get("k8ssa_discovery_roots"):
        block["discoveryRoots"] = base64.b64encode(
            Path(options["k8ssa_discovery_roots"]).read_bytes()
        ).decode()
    if options.get("k8ssa_disable_discovery") is not None:
        block["disableDiscovery"] = bool(options["k8ssa_disable_discovery"])
    if not block.get("publicKeys") and not block.get("issuers") and not block.get("jwksURL"):
        raise click.UsageError("a K8sSA provisioner needs --pem-keys, or --k8ssa-issuer/--k8ssa-jwks-url")
    return block
