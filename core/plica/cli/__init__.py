"""The `plica` command."""
