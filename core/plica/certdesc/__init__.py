"""step-compatible certificate templates: JSON descriptions, template data and default templates.

* `x509desc` / `sshdesc`: the JSON a template renders, decoded with Go `encoding/json` rules (`gojson`,
  `goparse`) and applied to `cryptography` certificate builders (docs/reference/step-templates.md §1, §2). The X.509 field
  types are in `names`, `sans`, `keyusage`, `extensions` and `signing`; `errors` holds `DescriptionError`.
* `data`: the data maps `x509_data` / `ssh_data` (§3, §6.2, §6.3), built from Go value stand-ins:
  `govalues`, `subject` (`.Subject`, `.SANs`), `csrdata` (`.Insecure.CR`), `certdata` (`.AuthorizationCrt`),
  `sshvalues`, `standins` and `publickeys`.
* `defaults`: step's default templates, verbatim (§4).
* `render`: render + decode, and the provisioner template options (§6.1).
"""

from __future__ import annotations

from .csrdata import CertificateRequest
from .data import TemplateDataError, merge_template_data, ssh_data, x509_data
from .errors import DescriptionError
from .render import has_custom_template, load_template_option, render_ssh, render_x509
from .signing import SigningParams, hash_for_signature_algorithm, signing_params
from .sshdesc import SSHDescription
from .sshvalues import DEFAULT_SSH_USER_EXTENSIONS, SSHCertificateRequest
from .subject import Subject, SubjectAlternativeName, create_sans
from .x509desc import X509Description

__all__ = [
    "DEFAULT_SSH_USER_EXTENSIONS",
    "CertificateRequest",
    "DescriptionError",
    "SSHCertificateRequest",
    "SSHDescription",
    "SigningParams",
    "Subject",
    "SubjectAlternativeName",
    "TemplateDataError",
    "X509Description",
    "create_sans",
    "has_custom_template",
    "hash_for_signature_algorithm",
    "load_template_option",
    "merge_template_data",
    "render_ssh",
    "render_x509",
    "signing_params",
    "ssh_data",
    "x509_data",
]
