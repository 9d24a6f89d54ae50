"""The core sees an extension's do-not-disturb and forward through the directory."""

from __future__ import annotations

from pathlib import Path

from centralita.directory import Directory
from centralita.store import Store


def test_extension_entry_carries_dnd_and_forward(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'db.sqlite3'}") as store:
        acme = store.tenants.add("acme", "acme.test")
        store.extensions.add(acme.id, "101", password="s3cret-101")
        store.extensions.add(acme.id, "102", password="s3cret-102")
        store.extensions.set_dnd(acme.id, "101", True)
        store.extensions.set_forward(acme.id, "102", "+34600111222")
        directory = Directory(store)
        alice, bob = directory.extension(acme.id, "101"), directory.extension(acme.id, "102")
        assert alice is not None and bob is not None
        assert (alice.dnd, alice.forward_to) == (True, None)
        assert (bob.dnd, bob.forward_to) == (False, "+34600111222")
