"""Configuration: the tenant model (YAML, REST API, web forms), loading with line-numbered
errors, ``apply`` to the store, and the settings of ``centralita serve``."""

from centralita.config.apply import ApplyError, Change, apply
from centralita.config.loading import ConfigError, ConfigIssue, load_model, parse_model
from centralita.config.serve import (
    ServeOptions,
    ServeOverrides,
    ServerSettings,
    build_serve_options,
    parse_host_port,
    parse_port_range,
)
from centralita.config.tenants import ExtensionConfig, TenantConfig, TenantsConfig

__all__ = [
    "ApplyError",
    "Change",
    "ConfigError",
    "ConfigIssue",
    "ExtensionConfig",
    "ServeOptions",
    "ServeOverrides",
    "ServerSettings",
    "TenantConfig",
    "TenantsConfig",
    "apply",
    "build_serve_options",
    "load_model",
    "load_tenants",
    "parse_host_port",
    "parse_model",
    "parse_port_range",
]


def load_tenants(path: str) -> TenantsConfig:
    """Read a tenants YAML file; ConfigError names each bad field and its line."""
    return load_model(path, TenantsConfig)
