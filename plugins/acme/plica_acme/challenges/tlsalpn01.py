"""tls-alpn-01 (RFC 8737; RFC 8738 §6 for IP identifiers).

A TLS handshake to <identifier>:<tlsPort> offering only ALPN "acme-tls/1" (SNI: the name, or for an IP the
reverse-mapping name); the server must negotiate it and present a certificate whose only SAN is the
identifier and which carries the critical acmeIdentifier extension holding SHA-256(key authorization).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl

from cryptography import x509

from ..problems import Problem
from ..provisioner import ACMEState
from .resolve import addresses

ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def _context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the challenge certificate is self-signed by design
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols([ALPN])
    return ctx


async def _handshake(addr: str, port: int, sni: str, timeout: float) -> tuple[str | None, bytes | None]:
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(addr, port, ssl=_context(), server_hostname=sni), timeout
    )
    try:
        obj = writer.get_extra_info("ssl_object")
        return obj.selected_alpn_protocol(), obj.getpeercert(binary_form=True)
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except (OSError, TimeoutError, ssl.SSLError):
            pass


async def validate(id_type: str, value: str, digest: bytes, state: ACMEState) -> None:
    sni = ipaddress.ip_address(value).reverse_pointer if id_type == "ip" else value
    where = f"{value}:{state.tls_port}"
    last: Problem | None = None
    for addr in await addresses(state, value):
        try:
            alpn, der = await _handshake(addr, state.tls_port, sni, state.timeout)
            break
        except TimeoutError:
            last = Problem("connection", f"TLS connection to {where} timed out after {state.timeout:g}s")
        except ssl.SSLError as e:
            last = Problem("tls", f"TLS handshake with {where} failed: {e.reason or e}")
        except OSError as e:
            last = Problem("connection", f"cannot connect to {where}: {e.strerror or e}")
    else:
        raise last or Problem("connection", f"no address to connect to for {value}")
    if alpn != ALPN:
        raise Problem("tls", f"{where} did not negotiate the {ALPN} protocol (got {alpn!r})")
    if not der:
        raise Problem("tls", f"{where} presented no certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise Problem("incorrectResponse", f"the certificate from {where} has no subjectAltName") from None
    except ValueError as e:
        raise Problem("tls", f"the certificate from {where} cannot be parsed: {e}") from None
    names = list(san)
    if id_type == "ip":
        want: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(value))
    else:
        want = x509.DNSName(value)
    if names != [want]:
        raise Problem(
            "incorrectResponse",
            f"the certificate from {where} must name exactly {value} in its subjectAltName "
            f"(it names {[str(getattr(n, 'value', n)) for n in names]})",
        )
    try:
        ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except x509.ExtensionNotFound:
        raise Problem(
            "incorrectResponse", f"the certificate from {where} has no acmeIdentifier extension"
        ) from None
    if not ext.critical:
        raise Problem("incorrectResponse", f"the acmeIdentifier extension from {where} is not critical")
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    if raw != b"\x04\x20" + digest:
        raise Problem(
            "incorrectResponse",
            f"the acmeIdentifier extension from {where} does not hold the digest of the key authorization",
        )
