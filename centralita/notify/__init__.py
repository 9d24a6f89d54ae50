"""Notifications sent out of the PBX: e-mail through the provider's SMTP server."""
