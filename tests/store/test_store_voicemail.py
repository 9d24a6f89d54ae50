"""The voicemail repository: add/get round trip, per-box listing in arrival order, new/old
counts, heard and deleted marks, purge, and one tenant never seeing another's messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from centralita.store import AlreadyExists, Store, TenantInfo
from centralita.store.voicemail import VoicemailCounts, VoicemailMessage, VoicemailMessageNotFound

T0 = datetime(2026, 11, 22, 21, 5, tzinfo=UTC)


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


@pytest.fixture
def globex(store: Store) -> TenantInfo:
    return store.tenants.add("globex", "globex.test")


def message(tenant: TenantInfo, ident: str, **changes: object) -> VoicemailMessage:
    base = VoicemailMessage(
        id=ident,
        tenant_id=tenant.id,
        box="101",
        caller="+34911000000",
        received_at=T0,
        duration=23.4,
        path=f"/var/voicemail/{tenant.name}/101/{ident}.wav",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_add_and_get_round_trip(store: Store, acme: TenantInfo) -> None:
    madrid = timezone(timedelta(hours=1))
    left = message(
        acme, "a" * 32, caller_name="Bob", received_at=datetime(2026, 11, 22, 22, 5, tzinfo=madrid)
    )
    store.voicemail.add(left)
    got = store.voicemail.get(acme.id, "a" * 32)
    assert got == replace(left, received_at=T0)  # the same instant, given back in UTC
    assert got is not None and got.received_at.tzinfo is UTC
    assert not got.heard and not got.deleted
    assert store.voicemail.get(acme.id, "b" * 32) is None


def test_ids_are_unique(store: Store, acme: TenantInfo) -> None:
    store.voicemail.add(message(acme, "m1"))
    with pytest.raises(AlreadyExists, match="'m1'"):
        store.voicemail.add(message(acme, "m1", box="102"))


def test_list_is_per_box_in_arrival_order(store: Store, acme: TenantInfo) -> None:
    later = message(acme, "later", received_at=T0 + timedelta(minutes=5))
    first = message(acme, "first")
    shared = message(acme, "shared", box="general")
    for m in (later, first, shared):
        store.voicemail.add(m)
    assert store.voicemail.list(acme.id, "101") == [first, later]
    assert store.voicemail.list(acme.id, "general") == [shared]
    assert store.voicemail.list(acme.id, "102") == []
    assert store.voicemail.boxes(acme.id) == ["101", "general"]


def test_counts_and_heard_flag(store: Store, acme: TenantInfo) -> None:
    for i in range(3):
        store.voicemail.add(message(acme, f"m{i}", received_at=T0 + timedelta(seconds=i)))
    assert store.voicemail.counts(acme.id, "101") == VoicemailCounts(new=3, old=0)
    heard = store.voicemail.mark_heard(acme.id, "m1")
    assert heard.heard and heard.id == "m1"
    assert store.voicemail.counts(acme.id, "101") == VoicemailCounts(new=2, old=1)
    assert [m.id for m in store.voicemail.list(acme.id, "101", heard=False)] == ["m0", "m2"]
    assert [m.id for m in store.voicemail.list(acme.id, "101", heard=True)] == ["m1"]
    store.voicemail.mark_heard(acme.id, "m1", heard=False)  # "mark as new" again
    assert store.voicemail.counts(acme.id, "101") == VoicemailCounts(new=3, old=0)
    assert store.voicemail.counts(acme.id, "general") == VoicemailCounts()


def test_delete_marks_then_purge_removes(store: Store, acme: TenantInfo) -> None:
    store.voicemail.add(message(acme, "keep"))
    store.voicemail.add(message(acme, "drop", heard=True))
    store.voicemail.add(message(acme, "other", box="general", deleted=True))
    dropped = store.voicemail.delete(acme.id, "drop")
    assert dropped.deleted
    assert [m.id for m in store.voicemail.list(acme.id, "101")] == ["keep"]
    everything = store.voicemail.list(acme.id, "101", include_deleted=True)
    assert {m.id for m in everything} == {"keep", "drop"}
    assert store.voicemail.counts(acme.id, "101") == VoicemailCounts(new=1, old=0)

    store.voicemail.delete(acme.id, "drop", deleted=False)  # changed their mind
    assert store.voicemail.counts(acme.id, "101") == VoicemailCounts(new=1, old=1)
    store.voicemail.delete(acme.id, "drop")

    purged = store.voicemail.purge(acme.id, "101")
    assert [m.id for m in purged] == ["drop"]
    assert purged[0].path.endswith("/drop.wav")
    assert store.voicemail.get(acme.id, "drop") is None
    assert store.voicemail.get(acme.id, "other") is not None  # another box: not purged
    assert [m.id for m in store.voicemail.purge(acme.id)] == ["other"]
    assert store.voicemail.purge(acme.id) == []


def test_tenants_are_isolated(store: Store, acme: TenantInfo, globex: TenantInfo) -> None:
    store.voicemail.add(message(acme, "acme-msg"))
    assert store.voicemail.get(globex.id, "acme-msg") is None
    assert store.voicemail.list(globex.id, "101") == []
    assert store.voicemail.counts(globex.id, "101") == VoicemailCounts()
    with pytest.raises(VoicemailMessageNotFound, match="'acme-msg'"):
        store.voicemail.mark_heard(globex.id, "acme-msg")
    with pytest.raises(VoicemailMessageNotFound):
        store.voicemail.delete(globex.id, "acme-msg")
    assert store.voicemail.get(acme.id, "acme-msg") == message(acme, "acme-msg")


def test_deleting_a_tenant_deletes_its_messages(store: Store, acme: TenantInfo) -> None:
    store.voicemail.add(message(acme, "m"))
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": acme.id})
        remaining = connection.execute(text("SELECT count(*) FROM voicemail_messages"))
        assert remaining.scalar() == 0


def test_database_refuses_a_negative_duration(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(IntegrityError):
        store.voicemail.add(message(acme, "neg", duration=-1.0))


def test_a_message_of_an_unknown_tenant_is_refused(store: Store) -> None:
    with pytest.raises(IntegrityError):
        store.voicemail.add(
            VoicemailMessage(
                id="x", tenant_id=999, box="101", caller="1", received_at=T0, duration=1, path="p"
            )
        )


def test_messages_commit_with_the_transaction(store: Store, acme: TenantInfo) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.voicemail.add(message(acme, "rolled-back"))
        raise RuntimeError
    assert store.voicemail.get(acme.id, "rolled-back") is None
