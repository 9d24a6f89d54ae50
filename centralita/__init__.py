"""Centralita: a multi-tenant virtual PBX."""
