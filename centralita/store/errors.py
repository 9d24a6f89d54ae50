"""Errors of the store, with messages fit to show an administrator."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class TenantNotFound(StoreError):
    def __init__(self, tenant: str | int) -> None:
        super().__init__(f"unknown tenant {tenant!r}")
        self.tenant = tenant


class ExtensionNotFound(StoreError):
    def __init__(self, tenant: str | int, number: str) -> None:
        super().__init__(f"unknown extension {number!r} in tenant {tenant!r}")
        self.tenant = tenant
        self.number = number


class AlreadyExists(StoreError):
    """A unique name, domain or number is taken."""
