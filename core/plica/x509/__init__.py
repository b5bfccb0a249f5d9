"""X.509 certificates: issuing (`issue`), renewing (`renew`, `renewtoken`), revoking (`revoke`), and the
hand-assembled default leaf (`fastleaf`)."""
