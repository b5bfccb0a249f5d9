"""step's default certificate templates, verbatim (docs/reference/step-templates.md §4).

These are the texts of `go.step.sm/crypto` `x509util/templates.go` and `sshutil/templates.go` (and the
`step` CLI profiles). They are compatibility data: keep them byte for byte, tabs included; the Go
constants have no trailing newline.
"""

from __future__ import annotations

# -- X.509 --------------------------------------------------------------------------------------------------

#: JWK, OIDC (non-admin), X5C, Nebula, ACME, SCEP; `step certificate create --profile leaf`.
DEFAULT_LEAF_TEMPLATE = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

#: AWS, GCP, Azure.
DEFAULT_IID_LEAF_TEMPLATE = """{
	"subject": {"commonName": {{ toJson .Insecure.CR.Subject.CommonName }}},
{{- if .SANs }}
	"sans": {{ toJson .SANs }},
{{- else }}
	"dnsNames": {{ toJson .Insecure.CR.DNSNames }},
	"emailAddresses": {{ toJson .Insecure.CR.EmailAddresses }},
	"ipAddresses": {{ toJson .Insecure.CR.IPAddresses }},
	"uris": {{ toJson .Insecure.CR.URIs }},
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

#: K8sSA, and OIDC admins when no custom template is set.
DEFAULT_ADMIN_LEAF_TEMPLATE = """{
	"subject": {{ toJson .Insecure.CR.Subject }},
	"dnsNames": {{ toJson .Insecure.CR.DNSNames }},
	"emailAddresses": {{ toJson .Insecure.CR.EmailAddresses }},
	"ipAddresses": {{ toJson .Insecure.CR.IPAddresses }},
	"uris": {{ toJson .Insecure.CR.URIs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

#: ACME device-attest-01 (permanent-identifier) orders.
DEFAULT_ATTESTED_LEAF_TEMPLATE = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["clientAuth"]
}"""

#: X.509 CSR passthrough (`step certificate sign --profile csr`).
CERTIFICATE_REQUEST_TEMPLATE = """{{ toJson .Insecure.CR }}"""

#: Used by the CLI when creating a CSR (`step certificate create --csr`).
DEFAULT_CERTIFICATE_REQUEST_TEMPLATE = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }}
}"""

#: `step certificate create --profile intermediate-ca`.
DEFAULT_INTERMEDIATE_TEMPLATE = """{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 0
	}
}"""

#: `step certificate create --profile root-ca` (its `issuer` key has no effect).
DEFAULT_ROOT_TEMPLATE = """{
	"subject": {{ toJson .Subject }},
	"issuer": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 1
	}
}"""

# -- SSH ----------------------------------------------------------------------------------------------------

#: JWK, X5C, OIDC (non-admin), Nebula, GCP user.
SSH_DEFAULT_TEMPLATE = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
	"principals": {{ toJson .Principals }},
	"extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
}"""

#: OIDC admins with no custom SSH template.
SSH_DEFAULT_ADMIN_TEMPLATE = """{
	"type": {{ toJson .Insecure.CR.Type }},
	"keyId": {{ toJson .Insecure.CR.KeyID }},
	"principals": {{ toJson .Insecure.CR.Principals }}
{{- if eq .Insecure.CR.Type "user" }}
	, "extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
{{- end }}
}"""

#: AWS, GCP host, Azure.
SSH_DEFAULT_IID_TEMPLATE = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
{{- if .Insecure.CR.Principals }}
	"principals": {{ toJson .Insecure.CR.Principals }},
{{- else }}
	"principals": {{ toJson .Principals }},
{{- end }}
	"extensions": {{ toJson .Extensions }}
}"""

#: K8sSA.
SSH_CERTIFICATE_REQUEST_TEMPLATE = """{
	"type": {{ toJson .Insecure.CR.Type }},
	"keyId": {{ toJson .Insecure.CR.KeyID }},
	"principals": {{ toJson .Insecure.CR.Principals }}
{{- if eq .Insecure.CR.Type "user" }}
	, "extensions": {
		"permit-X11-forwarding":   "",
		"permit-agent-forwarding": "",
		"permit-port-forwarding":  "",
		"permit-pty":              "",
		"permit-user-rc":          ""
	}
{{- end }}
}"""

#: The X.509 templates by their Go names.
X509_TEMPLATES: dict[str, str] = {
    "DefaultLeafTemplate": DEFAULT_LEAF_TEMPLATE,
    "DefaultIIDLeafTemplate": DEFAULT_IID_LEAF_TEMPLATE,
    "DefaultAdminLeafTemplate": DEFAULT_ADMIN_LEAF_TEMPLATE,
    "DefaultAttestedLeafTemplate": DEFAULT_ATTESTED_LEAF_TEMPLATE,
    "CertificateRequestTemplate": CERTIFICATE_REQUEST_TEMPLATE,
    "DefaultCertificateRequestTemplate": DEFAULT_CERTIFICATE_REQUEST_TEMPLATE,
    "DefaultIntermediateTemplate": DEFAULT_INTERMEDIATE_TEMPLATE,
    "DefaultRootTemplate": DEFAULT_ROOT_TEMPLATE,
}

#: The SSH templates by their Go names (package `sshutil`).
SSH_TEMPLATES: dict[str, str] = {
    "DefaultTemplate": SSH_DEFAULT_TEMPLATE,
    "DefaultAdminTemplate": SSH_DEFAULT_ADMIN_TEMPLATE,
    "DefaultIIDTemplate": SSH_DEFAULT_IID_TEMPLATE,
    "CertificateRequestTemplate": SSH_CERTIFICATE_REQUEST_TEMPLATE,
}

__all__ = [
    "CERTIFICATE_REQUEST_TEMPLATE",
    "DEFAULT_ADMIN_LEAF_TEMPLATE",
    "DEFAULT_ATTESTED_LEAF_TEMPLATE",
    "DEFAULT_CERTIFICATE_REQUEST_TEMPLATE",
    "DEFAULT_IID_LEAF_TEMPLATE",
    "DEFAULT_INTERMEDIATE_TEMPLATE",
    "DEFAULT_LEAF_TEMPLATE",
    "DEFAULT_ROOT_TEMPLATE",
    "SSH_CERTIFICATE_REQUEST_TEMPLATE",
    "SSH_DEFAULT_ADMIN_TEMPLATE",
    "SSH_DEFAULT_IID_TEMPLATE",
    "SSH_DEFAULT_TEMPLATE",
    "SSH_TEMPLATES",
    "X509_TEMPLATES",
]
