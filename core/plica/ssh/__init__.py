"""SSH certificates: signing (`sign`), renewing and rekeying host certificates (`renew`), revoking
(`revoke`), what the SSH CA publishes (`public`), and keys and certificates on the wire (`wire`)."""
