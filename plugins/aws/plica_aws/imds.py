"""The EC2 instance metadata service as step's client speaks to it: IMDSv2 (a session token from
`PUT /latest/api/token`, then the `X-aws-ec2-metadata-token` header) and IMDSv1 (plain GETs), tried in the
provisioner's `imdsVersions` order (default v2, then v1). One request is the kernel's `metadata_request`
(never through a proxy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from plica.api import MetadataError, metadata_request

DEFAULT_URL = "http://169.254.169.254"
TOKEN_PATH = "/latest/api/token"
DOCUMENT_PATH = "/latest/dynamic/instance-identity/document"
SIGNATURE_PATH = "/latest/dynamic/instance-identity/signature"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
# step asks for a short-lived session token: it makes a new one for every read.
TOKEN_TTL = "30"
DEFAULT_VERSIONS = ("v2", "v1")
SERVICE = "the AWS instance metadata service"
HINT = (
    "is this an EC2 instance with its metadata service enabled? (--aws-metadata-url, PLICA_AWS_METADATA_URL)"
)


def _request(url: str, headers: Mapping[str, str], method: str = "GET") -> bytes:
    return metadata_request(url, headers, service=SERVICE, hint=HINT, method=method)


def read(base: str, path: str, versions: Sequence[str] = DEFAULT_VERSIONS) -> bytes:
    """GET `path` of the metadata service at `base`, trying each IMDS version in order; MetadataError
    saying what each answered."""
    failures: list[str] = []
    for version in versions or DEFAULT_VERSIONS:
        try:
            if version == "v2":
                token = _request(base + TOKEN_PATH, {TOKEN_TTL_HEADER: TOKEN_TTL}, method="PUT")
                return _request(base + path, {TOKEN_HEADER: token.decode("ascii", "replace")})
            if version == "v1":
                return _request(base + path, {})
        except MetadataError as e:
            failures.append(f"IMDS{version}: {e.message}")
            continue
        failures.append(f"{version!r} is not a metadata service version (v1, v2)")
    raise MetadataError(f"cannot read {path} from {base}: {'; '.join(failures)}")
