"""The HTTP API (step-ca wire format) and the server that runs it."""
