"""The demo tenant of ``centralita demo`` (and ``make run``): ready for real phones.

Passwords are random the first time and kept in a 0600 file, so phones configured once keep
working across runs; the tenant is the default one, so a phone that registers to the
server's IP address lands in it.
"""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from centralita.config.apply import Change, apply
from centralita.config.tenants import ExtensionConfig, TenantConfig, TenantsConfig
from centralita.store import Store, sqlite_path
from centralita.store.engine import normalize_url

DEMO_TENANT = "demo"
DEMO_DOMAIN = "demo.centralita.test"
DEMO_EXTENSIONS = {"101": "Alice", "102": "Bob", "103": "Carol", "104": "Dave", "105": "Erin"}
PASSWORDS_FILE = "demo-passwords.txt"
# A small dial plan to try by phone: the menu on 500 (1 the sales group, 2 Carol, 9 the
# shared voicemail box), the group on 600, a room on 800, and Alice's voicemail (PIN 1234)
# taking her calls when she is busy or does not answer within 20 seconds.
DEMO_DIAL_PLAN: dict[str, Any] = {
    "ivrs": [
        {
            "name": "main",
            "number": "500",
            "greeting": {"prompt": "welcome"},
            "options": {
                "1": {"ring_group": "sales"},
                "2": {"extension": "103"},
                "9": {"voicemail": "general"},
            },
            "direct_dial": True,
        }
    ],
    "ring_groups": [
        {"name": "sales", "number": "600", "strategy": "simultaneous", "members": ["101", "102"]}
    ],
    "voicemail_boxes": [{"name": "general", "pin": "2468"}],
    "conferences": [{"name": "team", "number": "800"}],
}
DEMO_ROUTING: dict[str, dict[str, Any]] = {
    "101": {
        "voicemail": {"pin": "1234"},
        "forwarding": {
            "busy": {"voicemail": "101"},
            "no_answer": {"after": 20, "to": {"voicemail": "101"}},
        },
    }
}
_ALPHABET = string.ascii_letters + string.digits


def generate_password(length: int = 16) -> str:
    """A random password of letters and digits (16 give about 95 bits), easy to type
    into a phone's keypad menu."""
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        classes = (str.islower, str.isupper, str.isdigit)
        if all(any(test(c) for c in password) for test in classes):
            return password


@dataclass(frozen=True, slots=True)
class DemoExtension:
    number: str
    name: str
    password: str


@dataclass(frozen=True, slots=True)
class DemoTenant:
    name: str
    domain: str
    extensions: list[DemoExtension]
    passwords_file: Path
    changes: list[Change]


def passwords_file_for(database_url: str) -> Path:
    """Next to the SQLite database file; in ./var for other databases."""
    path = sqlite_path(normalize_url(database_url))
    return (path.parent if path is not None else Path("var")) / PASSWORDS_FILE


def ensure_demo(store: Store, passwords_file: Path) -> DemoTenant:
    """Create or repair the demo tenant; its passwords come from (or go to) the file."""
    passwords = _read_passwords(passwords_file)
    missing = [n for n in DEMO_EXTENSIONS if len(passwords.get(n, "")) < 8]
    for number in missing:
        passwords[number] = generate_password()
    if missing or not passwords_file.exists():
        _write_passwords(passwords_file, passwords)
    else:
        passwords_file.chmod(0o600)
    extensions = [DemoExtension(n, name, passwords[n]) for n, name in DEMO_EXTENSIONS.items()]
    config = TenantsConfig(
        tenants=[
            TenantConfig(
                name=DEMO_TENANT,
                domain=DEMO_DOMAIN,
                default=True,
                extensions=[
                    ExtensionConfig(
                        number=e.number,
                        name=e.name,
                        password=e.password,
                        **DEMO_ROUTING.get(e.number, {}),
                    )
                    for e in extensions
                ],
                **DEMO_DIAL_PLAN,
            )
        ]
    )
    changes = apply(store, config)
    return DemoTenant(DEMO_TENANT, DEMO_DOMAIN, extensions, passwords_file, changes)


def _read_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    passwords: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) == 2 and not line.startswith("#"):
            passwords[fields[0]] = fields[1]
    return passwords


def _write_passwords(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# Centralita demo tenant {DEMO_TENANT!r}: extension password (realm {DEMO_DOMAIN})"]
    lines += [f"{number} {passwords[number]}" for number in DEMO_EXTENSIONS]
    temporary = path.with_name(path.name + ".tmp")
    # Created 0600 from the start: the secret is never readable by others, not even briefly.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write("\n".join(lines) + "\n")
    os.replace(temporary, path)
