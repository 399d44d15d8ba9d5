"""Launchers that split a sweep's groups across processes or hosts (see launch/README.md)."""
