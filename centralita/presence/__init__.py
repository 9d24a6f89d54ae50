"""Event notification (RFC 6665) for phones: message-waiting indication (RFC 3842)."""
