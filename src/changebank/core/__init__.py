"""Shared pieces: accounts and roles, the audit trail, templates and security headers."""
