"""The EC2 instance metadata service as step's client speaks to it: IMDSv2 (a session token from
`PUT /latest/api/token`, then the `X-aws-ec2-metadata-token` header) and IMDSv1 (plain GETs), tried in the
provisioner's `imdsVersions` order (default v2, then v1)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence

DEFAULT_URL = "http://169.254.169.254"
ENV_VAR = "PLICA_AWS_METADATA_URL"
TOKEN_PATH = "/latest/api/token"
DOCUMENT_PATH = "/latest/dynamic/instance-identity/document"
SIGNATURE_PATH = "/latest/dynamic/instance-identity/signature"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
# step asks for a short-lived session token: it makes a new one for every read.
TOKEN_TTL = "30"
DEFAULT_VERSIONS = ("v2", "v1")
TIMEOUT = 5.0

# The metadata service is link-local: a proxy from the environment must never see these requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MetadataError(Exception):
    """The metadata service could not be read; the message says what each version answered."""


def _request(req: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with _OPENER.open(req, timeout=TIMEOUT) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def _read_v2(base: str, path: str) -> tuple[int, bytes]:
    put = urllib.request.Request(base + TOKEN_PATH, method="PUT", headers={TOKEN_TTL_HEADER: TOKEN_TTL})
    status, token = _request(put)
    if status >= 400:
        return status, b""
    get = urllib.request.Request(base + path, headers={TOKEN_HEADER: token.decode("ascii", "replace")})
    return _request(get)


def read(base: str, path: str, versions: Sequence[str] = DEFAULT_VERSIONS) -> bytes:
    """GET `path` of the metadata service at `base`, trying each IMDS version in order."""
    failures: list[str] = []
    for version in versions or DEFAULT_VERSIONS:
        try:
            if version == "v2":
                status, body = _read_v2(base, path)
            elif version == "v1":
                status, body = _request(urllib.request.Request(base + path))
            else:
                raise MetadataError(f"{version!r} is not a supported AWS metadata service version (v1, v2)")
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            failures.append(f"IMDS{version}: {reason}")
            continue
        if status < 400:
            return body
        failures.append(f"IMDS{version}: HTTP {status}")
    raise MetadataError(
        f"cannot read {path} from the AWS metadata service at {base} ({'; '.join(failures)}): is this an EC2 "
        "instance, is its metadata service enabled, and does it speak the provisioner's imdsVersions?"
    )
