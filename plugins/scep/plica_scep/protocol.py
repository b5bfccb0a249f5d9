"""SCEP over HTTP (RFC 8894 §4): /scep/<provisioner>[/anything] with `operation=` GetCACert, GetCACaps and
PKIOperation (GET with a base64 `message`, or POST with the DER body).

What is not SCEP at all (an unknown provisioner or operation, a message that is not a pkiMessage) is a 400
or 404 in the CA's error shape; a pkiMessage that is refused is a CertRep FAILURE with its failInfo, and
nothing is stored (the certificate and the spent challenge or message are written in one transaction, by
the kernel's `issue`). step-ca answers the former with a text 500 (docs/compatibility.md).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import urllib.parse

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AttributeOID, NameOID

from plica.api import (
    AuthorityView,
    BadRequest,
    InternalError,
    KeyUnavailable,
    NotFound,
    PlicaError,
    Provisioner,
    ProvisionerExtension,
    Route,
    SignRequest,
    X509Authorization,
    csr_sans,
)

from . import cms
from .cms import SCEPFailure
from .provisioner import SCEPState
from .webhook import challenge_allowed, request_body

log = logging.getLogger("plica.scep")

PATHS = ("/scep/{name}", "/scep/{name}/{rest:.*}")


def routes(authority: AuthorityView) -> list[Route]:
    async def get(request: web.Request) -> web.Response:
        prov = _provisioner(authority, request)
        op = request.query.get("operation", "")
        if op == "GetCACert":
            return _ca_cert(prov.state)
        if op == "GetCACaps":
            return web.Response(body=prov.state.caps, content_type="text/plain")
        if op == "PKIOperation":
            return await _pki_operation(authority, prov, _get_message(request.rel_url.raw_query_string))
        raise BadRequest(f"unknown SCEP operation {op!r} (GetCACert, GetCACaps or PKIOperation)")

    async def post(request: web.Request) -> web.Response:
        prov = _provisioner(authority, request)
        op = request.query.get("operation", "")
        if op != "PKIOperation":
            raise BadRequest(f"SCEP POST is for operation=PKIOperation, not {op!r}")
        return await _pki_operation(authority, prov, await request.read())

    return [
        Route(method, path, handler, insecure=True)
        for path in PATHS
        for method, handler in (("GET", get), ("POST", post))
    ]


def _provisioner(authority: AuthorityView, request: web.Request) -> Provisioner:
    name = request.match_info["name"]
    prov = authority.provisioner_by_name(name)
    if prov is None or prov.type.name != "SCEP":
        raise NotFound(f"there is no SCEP provisioner named {name!r}")
    return prov


def _ca_cert(state: SCEPState) -> web.Response:
    if len(state.ca_certs) == 1:
        der = state.ca_certs[0].public_bytes(serialization.Encoding.DER)
        return web.Response(body=der, content_type="application/x-x509-ca-cert")
    return web.Response(body=cms.degenerate(state.ca_certs), content_type="application/x-x509-ca-ra-cert")


def _get_message(query: str) -> bytes:
    """The `message` of a GET PKIOperation, from the raw query: percent-decoding only, since a `+` of the
    base64 may come unescaped (macOS escapes only the `=` padding) and must not become a space."""
    raw = next((v for k, _, v in (p.partition("=") for p in query.split("&")) if k == "message"), "")
    text = "".join(urllib.parse.unquote(raw).split())
    if not text:
        raise BadRequest("PKIOperation over GET needs a base64 message parameter")
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the PKIOperation message is not base64") from None


async def _pki_operation(authority: AuthorityView, prov: Provisioner, der: bytes) -> web.Response:
    state: SCEPState = prov.state
    key = state.decrypter_key
    if key is None:  # only the CLI's offline view has no keys, and it serves nothing
        raise InternalError("this SCEP provisioner has no decrypter")
    try:
        msg = cms.parse_pki_message(der)
    except cms.Malformed as e:
        raise BadRequest(f"not a SCEP pkiMessage: {e}") from None
    try:
        content, issued = await _enrol(authority, prov, state, msg)
        body = await cms.cert_rep(
            msg,
            signer_cert=state.decrypter_cert,
            signer_key=key,
            status=cms.SUCCESS,
            content=content,
            certificates=[issued],
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        # What the checks above did not foresee in a hostile message (a key type `cryptography` cannot
        # load, ...) is still the client's: a FAILURE, never a 500.
        log.warning("SCEP %s transaction %s: unreadable request (%s)", prov.name, msg.transaction_text, e)
        body = await cms.cert_rep(
            msg, signer_cert=state.decrypter_cert, signer_key=key, status=cms.FAILURE,
            fail_info=cms.BAD_REQUEST, fail_text="the request could not be read",
        )  # fmt: skip
    except SCEPFailure as f:
        log.info(
            "SCEP %s transaction %s refused (failInfo %s): %s",
            prov.name, msg.transaction_text, f.fail_info, f.text,
        )  # fmt: skip
        body = await cms.cert_rep(
            msg,
            signer_cert=state.decrypter_cert,
            signer_key=key,
            status=cms.FAILURE,
            fail_info=f.fail_info,
            fail_text=f.text,
        )
    return web.Response(body=body, content_type="application/x-pki-message")


async def _enrol(
    authority: AuthorityView, prov: Provisioner, state: SCEPState, msg: cms.PKIMessage
) -> tuple[bytes, x509.Certificate]:
    """Check and answer a PKCSReq or RenewalReq: the enveloped degenerate PKCS#7 of the new certificate."""
    kind = cms.MESSAGE_TYPES.get(msg.message_type, msg.message_type)
    if msg.message_type not in (cms.PKCS_REQ, cms.RENEWAL_REQ):
        raise SCEPFailure(cms.BAD_REQUEST, f"message type {kind} is not supported (PKCSReq, RenewalReq)")
    msg.verify_signature()
    assert state.decrypter_key is not None
    # A lost token is KeyUnavailable here and in `issue`: a 503 the client retries, not a FAILURE.
    csr_der = await msg.decrypt(state.decrypter_cert, state.decrypter_key)
    try:
        csr = x509.load_der_x509_csr(csr_der)
        valid = csr.is_signature_valid
    except ValueError:
        raise SCEPFailure(cms.BAD_REQUEST, "the pkcsPKIEnvelope does not hold a PKCS#10 request") from None
    if not valid:
        raise SCEPFailure(cms.BAD_MESSAGE_CHECK, "the certificate request's signature does not verify")
    assert msg.signer is not None  # verify_signature checked it
    if msg.message_type == cms.PKCS_REQ:
        if msg.signer.public_key() != csr.public_key():
            raise SCEPFailure(
                cms.BAD_MESSAGE_CHECK, "a PKCSReq must be signed with the key of its certificate request"
            )
        spent = await _check_challenge(prov, state, msg, csr)
    else:
        await _check_renewal(authority, prov, state, msg.signer)
        spent = _message_id(prov, msg)
    if not isinstance(msg.signer.public_key(), rsa.RSAPublicKey):
        # checked before anything is issued: the reply is encrypted to the signer's key
        raise SCEPFailure(
            cms.BAD_ALG, "the reply can only be encrypted to an RSA key, and the signer's is not"
        )
    pub = csr.public_key()
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size < state.min_key_bits:
        raise SCEPFailure(
            cms.BAD_REQUEST, f"the key has {pub.key_size} bits; this provisioner needs {state.min_key_bits}"
        )
    cn_attrs = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cn_attrs[0].value) if cn_attrs else ""
    sans = csr_sans(csr)
    names = [*sans.dns, *sans.emails, *(str(i) for i in sans.ips), *sans.uris] or ([cn] if cn else [])
    # The CSR's own subject and names, as step-ca's SCEP template data has them; with forceCN a request
    # without a common name gets its first DNS name.
    passthrough = bool(cn) or not state.force_cn
    auth = X509Authorization(
        subject=cn,
        sans=names,
        check_csr=None,
        token_id=spent,
        csr_passthrough=passthrough,
        force_cn=state.force_cn,
    )
    try:
        chain = await authority.issue(
            prov,
            auth,
            SignRequest(csr=csr, csr_der=csr_der, not_before=None, not_after=None, template_data=None),
        )
    except KeyUnavailable:
        raise
    except PlicaError as e:
        raise SCEPFailure(cms.BAD_REQUEST, e.message) from None
    leaf = chain[0]
    # RFC 8894 §3.3.2: the certificate goes back encrypted to the certificate the request was signed with.
    content = cms.envelope(cms.degenerate([leaf]), [msg.signer], state.encryption)
    log.info(
        "SCEP %s issued serial %d (transaction %s, %s)",
        prov.name,
        leaf.serial_number,
        msg.transaction_text,
        kind,
    )
    return content, leaf


def _message_id(prov: Provisioner, msg: cms.PKIMessage) -> str:
    """The one-time id of a message: its transaction and nonce, so that a replay issues nothing."""
    h = hashlib.sha256(msg.transaction_text.encode() + b"\0" + msg.sender_nonce).hexdigest()
    return f"scep/{prov.name}/message/{h}"


async def _check_challenge(
    prov: Provisioner, state: SCEPState, msg: cms.PKIMessage, csr: x509.CertificateSigningRequest
) -> str:
    """The challenge password (RFC 2985 attribute of the CSR), by webhook, or compared in constant time;
    returns the one-time id to spend with the certificate."""
    try:
        attr = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD)
        value = attr.value
        given = value if isinstance(value, bytes) else str(value).encode()
    except x509.AttributeNotFound:
        given = b""
    if state.webhooks:
        body = request_body(prov.name, given.decode(errors="replace"), msg.transaction_text, csr)
        if not given or not await challenge_allowed(state.webhooks, state.webhook_tls, body):
            raise SCEPFailure(cms.BAD_REQUEST, "the challenge was not accepted")
        # A webhook's challenge is spent with the certificate it gets: a second use is refused.
        return f"scep/{prov.name}/challenge/{hashlib.sha256(given).hexdigest()}"
    if not hmac.compare_digest(given, state.challenge):
        raise SCEPFailure(cms.BAD_REQUEST, "wrong challenge password")
    return _message_id(prov, msg)


async def _check_renewal(
    authority: AuthorityView, prov: Provisioner, state: SCEPState, cert: x509.Certificate
) -> None:
    """A RenewalReq is signed with a certificate this provisioner issued, still valid and not revoked."""
    if not any(_signed_by(cert, issuer) for issuer in state.issuers):
        raise SCEPFailure(cms.BAD_CERT_ID, "a RenewalReq must be signed with a certificate this CA issued")
    try:
        ext = ProvisionerExtension.from_certificate(cert)
    except ValueError:
        ext = None
    if ext is None or ext.name != prov.name or ext.type != prov.type.type_id:
        raise SCEPFailure(
            cms.BAD_CERT_ID, f"the signing certificate was not issued by provisioner {prov.name!r}"
        )
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SCEPFailure(cms.BAD_TIME, "the signing certificate is not valid now")
    if await authority.storage.is_x509_revoked(str(cert.serial_number)):
        raise SCEPFailure(cms.BAD_CERT_ID, "the signing certificate has been revoked")


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
