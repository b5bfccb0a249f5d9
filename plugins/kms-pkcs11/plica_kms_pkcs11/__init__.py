"""plica-kms-pkcs11: the CA's keys in a PKCS#11 token (an HSM, a TPM through tpm2-pkcs11, SoftHSM2).

Registered in the entry-point group `plica.kms` as type `pkcs11`; ca.json names it as step-ca does:
`"kms": {"type": "pkcs11", "uri": "pkcs11:module-path=...;token=...?pin-source=file:..."}`.
"""

from __future__ import annotations

from .manager import Pkcs11KMS, open_manager

__all__ = ["Pkcs11KMS", "open_manager"]
