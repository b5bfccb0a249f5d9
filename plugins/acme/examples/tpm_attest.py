"""A small device-attest-01 client for a TPM, driving Debian's tpm2-tools (no step CLI needed).

It does what `step ca certificate --attestation-uri tpmkms:...` does on the device side:

1. `Tpm.create_ak()`: an endorsement key and an attestation key (AK) under it; the AK's public key (PEM)
   goes to whoever certifies AKs (your enrolment CA, whose root the provisioner's `attestationRoots`
   trusts). Its certificate must have an empty subject, a SAN naming the TPM's manufacturer, model and
   version (and, optionally, the device's permanentIdentifier) and the extended key usage
   tcg-kp-AIKCertificate (2.23.133.8.3).
2. `Tpm.create_key()`: a signing key that never leaves the TPM (fixedTPM, sensitiveDataOrigin).
3. `Tpm.attestation(key_authorization, ak_chain)`: TPM2_Certify of that key by the AK with the SHA-256 of
   the ACME key authorization as qualifying data, packed as the WebAuthn TPM statement
   (`ver`, `alg`, `x5c`, `sig`, `certInfo`, `pubArea`) in the attestation object; the ACME challenge
   response is `{"attObj": base64url(attestation_object)}`.
4. `Tpm.csr(common_name)`: the CSR for finalize, signed inside the TPM by the attested key.

`TPM2TOOLS_TCTI` selects the TPM (e.g. `swtpm:host=127.0.0.1,port=2321`, or `device:/dev/tpmrm0`).
Example, with an ACME client that lets you choose the challenge payload:

    tpm = Tpm(Path("state"), tcti="device:/dev/tpmrm0")
    ak_pem = tpm.create_ak()           # have it certified: ak_chain = [AK cert DER, intermediates...]
    tpm.create_key()
    payload = {"attObj": b64url(tpm.attestation(key_auth, ak_chain))}
    csr_der = tpm.csr("device-serial")
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path

import cbor2
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

COSE_RS256 = -257
COSE_ES256 = -7
TPM_ST_SESSIONS = 0x8002
TPM_CC_CERTIFY = 0x00000148
TPM_RS_PW = 0x40000009
TPM_ALG_NULL = 0x0010
AK_HANDLE = 0x81010002
KEY_HANDLE = 0x81010003


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Tpm:
    """tpm2-tools on one TPM; files (contexts, public parts) in `workdir`."""

    def __init__(self, workdir: Path, tcti: str) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "TPM2TOOLS_TCTI": tcti}
        self.persisted = False
        self.ak_alg = COSE_RS256

    def run(self, *args: str) -> bytes:
        out = subprocess.run(args, cwd=self.dir, env=self.env, capture_output=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {out.stderr.decode(errors='replace')}")
        return out.stdout

    def flush(self) -> None:
        # Transient objects fill the TPM's few slots; each tool loads what it needs from its context file.
        self.run("tpm2_flushcontext", "-t")

    def create_ak(self, alg: str = "rsa") -> bytes:
        """An EK and an AK under it, `rsa` (RSASSA) or `ecc` (ECDSA P-256), signing with SHA-256; returns
        the AK's public key as PEM."""
        self.ak_alg = COSE_RS256 if alg == "rsa" else COSE_ES256
        self.run("tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub")
        self.run(
            "tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", alg, "-g", "sha256",
            "-s", "rsassa" if alg == "rsa" else "ecdsa", "-u", "ak.pub", "-f", "pem", "-n", "ak.name",
        )  # fmt: skip
        self.flush()
        return (self.dir / "ak.pub").read_bytes()

    def create_key(self, alg: str = "ecc256") -> None:
        """A signing key under an owner-hierarchy primary, loaded as key.ctx."""
        self.run("tpm2_createprimary", "-C", "o", "-c", "primary.ctx")
        self.run("tpm2_create", "-C", "primary.ctx", "-G", alg, "-u", "key.pub", "-r", "key.priv")
        self.flush()
        self.run("tpm2_load", "-C", "primary.ctx", "-u", "key.pub", "-r", "key.priv", "-c", "key.ctx")
        self.flush()

    def public_key_pem(self) -> bytes:
        self.run("tpm2_readpublic", "-c", "key.ctx", "-f", "pem", "-o", "key.pem")
        self.flush()
        return (self.dir / "key.pem").read_bytes()

    def certify(self, qualifying_data: bytes) -> tuple[bytes, bytes]:
        """TPM2_Certify of key.ctx by the AK with `qualifying_data`: (TPMS_ATTEST, the AK's signature as
        WebAuthn wants it: RSASSA bytes, or ECDSA as DER). tpm2-tools 5.4's tpm2_certify cannot pass qualifying data, so the command is sent as
        bytes (tpm2_send) on the two keys made persistent, each authorized by an empty password."""
        if not self.persisted:
            for ctx, handle in (("ak.ctx", AK_HANDLE), ("key.ctx", KEY_HANDLE)):
                self.run("tpm2_evictcontrol", "-C", "o", "-c", ctx, f"0x{handle:08x}")
                self.flush()
            self.persisted = True
        pw = TPM_RS_PW.to_bytes(4, "big") + b"\x00\x00" + b"\x00" + b"\x00\x00"  # empty-password session
        body = (
            KEY_HANDLE.to_bytes(4, "big")
            + AK_HANDLE.to_bytes(4, "big")
            + (2 * len(pw)).to_bytes(4, "big")
            + pw * 2
            + len(qualifying_data).to_bytes(2, "big")
            + qualifying_data
            + TPM_ALG_NULL.to_bytes(2, "big")  # the AK's own scheme (RSASSA or ECDSA, SHA-256)
        )
        cmd = TPM_ST_SESSIONS.to_bytes(2, "big") + (10 + len(body)).to_bytes(4, "big")
        cmd += TPM_CC_CERTIFY.to_bytes(4, "big") + body
        (self.dir / "certify.cmd").write_bytes(cmd)
        self.run("tpm2_send", "-o", "certify.rsp", "certify.cmd")
        rsp = (self.dir / "certify.rsp").read_bytes()
        rc = int.from_bytes(rsp[6:10], "big")
        if rc != 0:
            raise RuntimeError(f"TPM2_Certify failed: TPM return code 0x{rc:x}")
        pos = 14  # tag, size, rc, parameterSize
        n = int.from_bytes(rsp[pos : pos + 2], "big")
        attest = rsp[pos + 2 : pos + 2 + n]
        pos += 2 + n + 4  # TPMT_SIGNATURE: sigAlg, hash, then the signature's TPM2B parts
        parts = []
        for _ in range(1 if self.ak_alg == COSE_RS256 else 2):  # RSASSA: sig; ECDSA: r, s
            m = int.from_bytes(rsp[pos : pos + 2], "big")
            parts.append(rsp[pos + 2 : pos + 2 + m])
            pos += 2 + m
        if self.ak_alg == COSE_RS256:
            return attest, parts[0]
        r, s = (int.from_bytes(p, "big") for p in parts)
        return attest, encode_dss_signature(r, s)

    def attestation(self, key_authorization: str, ak_chain: list[bytes]) -> bytes:
        """The CBOR attestation object certifying key.ctx with the AK, qualified by the key authorization."""
        cert_info, sig = self.certify(hashlib.sha256(key_authorization.encode("ascii")).digest())
        # key.pub is a TPM2B_PUBLIC: the statement's pubArea is the TPMT_PUBLIC inside its 2-byte size.
        pub = (self.dir / "key.pub").read_bytes()
        stmt = {
            "ver": "2.0",
            "alg": self.ak_alg,
            "x5c": ak_chain,
            "sig": sig,
            "certInfo": cert_info,
            "pubArea": pub[2 : 2 + int.from_bytes(pub[:2], "big")],
        }
        return cbor2.dumps({"fmt": "tpm", "attStmt": stmt})

    def sign(self, data: bytes, key: str) -> bytes:
        """The key's ECDSA-SHA256 signature over `data` (DER), made inside the TPM; `key` is a context file
        or a persistent handle."""
        (self.dir / "tbs.bin").write_bytes(data)
        self.run("tpm2_sign", "-c", key, "-g", "sha256", "-f", "plain", "-o", "tbs.sig", "tbs.bin")
        self.flush()
        return (self.dir / "tbs.sig").read_bytes()

    def csr(self, common_name: str) -> bytes:
        """A DER PKCS#10 request for key.ctx with `common_name` (the device's permanent identifier)."""
        spki = serialization.load_pem_public_key(self.public_key_pem()).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        info = asn1_csr.CertificationRequestInfo(
            {
                "version": "v1",
                "subject": asn1_x509.Name.build({"common_name": common_name}),
                "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
                "attributes": [],
            }
        )
        signature = self.sign(info.dump(), "key.ctx")
        req = asn1_csr.CertificationRequest(
            {
                "certification_request_info": info,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": signature,
            }
        )
        return req.dump()
