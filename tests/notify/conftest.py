"""Fixtures of the mail tests: a real SMTP server on loopback (see smtpserver.py)."""

from tests.notify.smtpserver import certificate, smtp_server

__all__ = ["certificate", "smtp_server"]
