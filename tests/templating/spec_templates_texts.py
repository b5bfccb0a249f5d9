# ruff: noqa: E101
"""The templates quoted in docs/reference/step-templates.md §4 (default templates) and §7 (documentation
examples), copied verbatim from the spec: they are the configuration users bring.
test_spec_templates_defaults.py and test_spec_templates_examples.py render them.
"""

# ---------------------------------------------------------------------------------------------------------
# §4 and §7 templates, verbatim

DEFAULT_LEAF = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DEFAULT_IID_LEAF = """{
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

DEFAULT_ADMIN_LEAF = """{
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

DEFAULT_ATTESTED_LEAF = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["clientAuth"]
}"""

CERTIFICATE_REQUEST = """{{ toJson .Insecure.CR }}"""

DEFAULT_CERTIFICATE_REQUEST = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }}
}"""

DEFAULT_INTERMEDIATE = """{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 0
	}
}"""

DEFAULT_ROOT = """{
	"subject": {{ toJson .Subject }},
	"issuer": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 1
	}
}"""

SSH_DEFAULT = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
	"principals": {{ toJson .Principals }},
	"extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
}"""

SSH_DEFAULT_ADMIN = """{
	"type": {{ toJson .Insecure.CR.Type }},
	"keyId": {{ toJson .Insecure.CR.KeyID }},
	"principals": {{ toJson .Insecure.CR.Principals }}
{{- if eq .Insecure.CR.Type "user" }}
	, "extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
{{- end }}
}"""

SSH_DEFAULT_IID = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
{{- if .Insecure.CR.Principals }}
	"principals": {{ toJson .Insecure.CR.Principals }},
{{- else }}
	"principals": {{ toJson .Principals }},
{{- end }}
	"extensions": {{ toJson .Extensions }}
}"""

SSH_CERTIFICATE_REQUEST = """{
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

DOC_7_1_LEAF = """{
    "subject": {
        "organizationalUnit": {{ toJson .OrganizationalUnit }},
        "commonName": {{ toJson .Subject.CommonName }}
    },
    "sans": {{ toJson .SANs }},
    "keyUsage": ["digitalSignature"],
    "extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DOC_7_2_INLINE_PLAIN = """{
    "x509": {
        "template": "{{ toJson .Insecure.CR }}",
    }
}"""

DOC_7_2_INLINE_B64 = """{
    "x509": {
        "template": "e3sgdG9Kc29uIC5JbnNlY3VyZS5DUiB9fQ==",
    }
}"""

DOC_7_3_RENDERED = """{
    "subject": {
        "commonName": "jane@smallstep.com"
    },
    "sans": [{"type": "email", "value": "jane@smallstep.com"}],
    "keyUsage": ["digitalSignature"],
    "extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DOC_7_4_SNIPPET = """"extensions": [
  {"id": "1.2.3.4", "critical": false, "value": {{ asn1Enc "int:3848281" | toJson }}}
]"""

DOC_7_4_ASN1 = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"],
	"extensions": [
		{"id": "1.2.3.4", "value": {{ asn1Marshal .AuthorizationCrt.NotAfter | toJson }}},
		{"id": "1.2.3.5", "value": {{ asn1Set (asn1Marshal (first .Insecure.CR.DNSNames) "utf8") (asn1Enc "int:123456") | toJson }}},
		{"id": "1.2.3.6", "value": {{ asn1Seq (asn1Enc "YubiKey") (asn1Enc "int:123456") | toJson }}}
	]
}"""

DOC_7_6_PASSTHROUGH = """{{ toJson .Insecure.CR }}"""

DOC_7_7_USER = """{
	"subject": {{ toJson .Subject }},
{{- if .Insecure.User.dnsName }}
	"dnsNames": {{ toJson .Insecure.User.dnsName }},
{{- else }}
	"sans": {{ toJson .SANs }},
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

DOC_7_8_NAME_CONSTRAINTS = """{
    "subject": {{ toJson .Subject }},
    "keyUsage": ["certSign", "crlSign"],
    "basicConstraints": {
        "isCA": true,
        "maxPathLen": 0
    },
    "nameConstraints": {
        "critical": true,
        "permittedDNSDomains": ["example.com"]
    }
}"""

DOC_7_9_RAW_EXTENSION = """  "extensions": [
    {"id": "1.2.3.4", "critical": false, "value": "Y3VzdG9tIGV4dGVuc2lvbiB2YWx1ZQ=="}
  ]"""

DOC_7_10_CRL_DP = """   {
           "subject": {{ toJson .Subject }},
           "keyUsage": ["certSign", "crlSign"],
           "basicConstraints": {
                   "isCA": true,
                   "maxPathLen": 0
           },
           "crlDistributionPoints": ["http://ca.example.com/1.0/crl"]
   }"""

DOC_7_11_POLICIES = """  "extensions": [
    {
      "id": "2.5.29.32",
      "value": {{
        asn1Seq
          (asn1Seq
            (asn1Enc "oid:1.3.6.1.4.1.99999.1.1.1")
            (asn1Seq (asn1Seq (asn1Enc "oid:1.3.6.1.5.5.7.2.1") (asn1Enc "ia5:http://example.com/cps")))
          )
        | toJson
      }}
    }
  ]"""

DOC_7_12_OPENVPN_CLIENT = """{
  "subject": {"commonName": {{ toJson .Insecure.CR.Subject.CommonName }}},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyAgreement"],
  "extKeyUsage": ["clientAuth"]
}"""

DOC_7_12_OPENVPN_SERVER = """{
  "subject": {{ toJson .Subject }},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature", "keyEncipherment", "keyAgreement"],
  "extKeyUsage": ["serverAuth"]
}"""

DOC_7_13_SSH_GITHUB = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
	"principals": {{ toJson .Principals }},
	"criticalOptions": {{ toJson .CriticalOptions }},
{{ if .Token.ghu }}
	"extensions": {
	  "login@github.com": {{ toJson .Token.ghu }}
	}
{{ else }}
	"extensions": {{ toJson .Extensions }}
{{ end }}
}"""

DOC_7_14_SSH_GROUPS = """  {
    "type": {{ toJson .Type }},
    "keyId": {{ toJson .KeyID }},
    "principals": {{ toJson ((concat .Principals (splitList " " .Token.groups)) | uniq) }},
    "criticalOptions": {{ toJson .CriticalOptions }},
    "extensions": {{ toJson .Extensions }}
  }"""

DOC_7_15_SSH_X5C = """{
        "type": {{ toJson .Type }},
        "keyId": {{ toJson .AuthorizationCrt.Subject.CommonName }},
        "principals": [
            {{ replace "@example.com" "" .AuthorizationCrt.Subject.CommonName | toJson }},
            {{ toJson .AuthorizationCrt.Subject.CommonName }}
        ],
        "extensions": {{ toJson .Extensions }},
        "criticalOptions": {{ toJson .CriticalOptions }}
    }"""

DOC_7_16_WEBHOOK = """    {
      "subject": {
        "organizationalUnit": {{ toJson .Webhooks.people.role }}
      }
    }"""

DOC_7_17_SSH_USER = """{
	"type": "{{ .Type }}",
	"keyId": "{{ .KeyID }}",
	"principals": {{ toJson .Principals }},
{{- if .Insecure.User.username }}
	"extensions": {{ set .Extensions "login@github.com" .Insecure.User.username | toJson }}
{{- else }}
    "extensions": {{ toJson .Extensions }}
{{- end }}
}"""

DOC_7_18_EXAMPLE = """{
	"subject": {{ toJson .Insecure.CR.Subject }},
	"sans": {{ toJson .SANs }},
{{- if .Insecure.CR.EmailAddresses }}
	"emailAddresses": {{ toJson .Insecure.CR.EmailAddresses }},
{{- end }}
{{- if .Token }}
	"uris": "{{ .Token.iss }}#{{ .Token.sub }}",
{{- end }}
	"notBefore": "{{ dateInZone "2006-01-02T15:04:05Z07:00" .Token.nbf "UTC" }}",
	"notAfter": "{{ .Webhooks.Test.notAfter }}",
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	{{- if lt .Insecure.CR.PublicKey.Size 384 }}
		{{ fail "Key length must be at least 3072 bits" }}
	{{- end }}
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""
