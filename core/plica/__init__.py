"""Plica: a pluggable online certificate authority that speaks step-ca's wire protocol."""

__version__ = "0.1.0"
