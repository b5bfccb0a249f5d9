"""The HTTP side: the ACME resources under /acme/<provisioner>/ (RFC 8555, RFC 9773) and the EAB admin
endpoints under /admin/acme/eab/. `routes` lists them for the `http_routes` hook; every handler reads
the per-application `Runtime` from `request.app`."""
