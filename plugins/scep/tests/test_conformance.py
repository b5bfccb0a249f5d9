"""The SCEP type against the kernel's conformance suite (plica.testing.conformance). SCEP takes no tokens: its
entry point is its own protocol, refused here with a body that is not a pkiMessage. The CA is RSA (SCEP
decrypts with the intermediate's key). step-ca publishes the block with its secrets replaced by
`*** REDACTED ***` rather than left out, so the redaction is checked in test_scep.py, not by
`secret_fields`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plica_scep
import pytest

from plica.testing import Api, CAFiles, Reply, make_ca
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"
SCEP = {"type": "SCEP", "name": "scep"}


class TestConformance(ProvisionerConformance):
    plugin = plica_scep
    type_name = "SCEP"
    capabilities = ["x509-sign"]
    example_block = readme_block(README, "SCEP")
    ssh = False
    bad_blocks = [
        ({**SCEP, "forceCN": "yes"}, "forceCN"),
        ({**SCEP, "encryptionAlgorithmIdentifier": 5}, "encryptionAlgorithmIdentifier"),
        ({**SCEP, "minimumPublicKeyLength": 2049}, "minimumPublicKeyLength"),
        ({**SCEP, "decrypterKey": "pkcs11:object=scep"}, "decrypterCertificate"),
        ({**SCEP, "decrypterKey": "secrets/ra_key", "decrypterKeyPEM": "LS0tLS1CRUdJTg=="}, "decrypterKey"),
        ({**SCEP, "decrypterCertificate": "LS0tLS1CRUdJTg=="}, "decrypterKeyPEM"),
        ({**SCEP, "decrypterCertificate": "not base64!", "decrypterKeyPEM": "x"}, "decrypterCertificate"),
        (
            {
                **SCEP,
                "options": {
                    "webhooks": [{"name": "w", "kind": "SCEPCHALLENGE", "url": "http://mdm.example"}]
                },
            },
            "options.webhooks[0].url",
        ),
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_ca(cls, tmp_path_factory: pytest.TempPathFactory) -> CAFiles:
        self = cls()
        files = make_ca(tmp_path_factory.mktemp("conformance"), ssh=False, kty="RSA", plugins=self._plugins())
        self._write_provisioners(files, self.example_block)
        return files

    async def refuse(self, api: Api, authority: Any) -> Reply:
        return await api.post(f"/scep/{self.example_block['name']}?operation=PKIOperation", data=b"not SCEP")
