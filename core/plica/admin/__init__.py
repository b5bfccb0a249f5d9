"""The admin API's kernel part (docs/reference/wire.md §1b, §5b, §6): who the admins are (`store`), how a request proves it
comes from one (`auth`), the admin error shape (`errors`), and the client side that makes admin tokens
(`client`); with `enableAdmin`, the provisioners in the database (`provstore`), their linkedca wire form
(`linkedca`), the change watch that makes several instances one CA (`sync`), the endpoints (`routes`) and
the certificate inventory (`certs`).

An admin is a subject bound to a provisioner (step-ca's `linkedca.Admin`), kept in the `admins` table;
`ADMIN` or `SUPER_ADMIN`. A request authenticates with an admin token: `Authorization: <JWT>` (no
`Bearer`), the admin's certificate chain in the `x5c` header, signed with that certificate's key. The
certificate must chain to this CA; the provisioner named in its provisioner extension and one of its names
(CN, DNS SANs, emails) must be an admin. Plugins serving admin endpoints call `require_admin` and answer
errors in the admin shape by raising `AdminError` (or wrapping handlers in `admin_route`); they import
these names from `plica.api`.

With `authority.enableAdmin`, the CA's first start moves ca.json's provisioners into the database and
creates the super admin `step` bound to the first JWK provisioner, as step-ca does
(docs/reference/provisioners.md "Remote Provisioner Management").
"""
