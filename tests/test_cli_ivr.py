"""``centralita ivr record-greeting`` against a store the example dial plan was applied to."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from centralita import cli_ivr
from centralita.cli import main
from centralita.store import Store

VECTOR = Path(__file__).parent / "vectors" / "config" / "dialplan_acme.yaml"


@pytest.fixture
def database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    assert main(["apply", "--database", url, str(VECTOR)]) == 0
    capsys.readouterr()
    return url


def record(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["ivr", "record-greeting", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_request_is_queued_and_its_id_printed(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = record(capsys, "acme", "main", "--call", "101", "--database", database)
    assert (status, err) == (0, "")
    assert out.startswith("call request ")
    request_id = int(out.split()[2].rstrip(":"))
    assert "extension 101 of acme" in out and "IVR main" in out
    with Store.open(database) as store:
        queued = store.call_requests.get(request_id)
        tenant = store.tenants.get_by_name("acme")
    assert queued is not None and tenant is not None
    assert (queued.tenant_id, queued.extension, queued.action, queued.argument) == (
        tenant.id,
        "101",
        "record_greeting",
        "main",
    )
    assert queued.taken_at is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope", "main", "--call", "101"], "TENANT: unknown tenant 'nope'"),
        (["acme", "lobby", "--call", "101"], "IVR_NAME: tenant 'acme' has no IVR 'lobby'"),
        (["acme", "main", "--call", "999"], "--call: unknown extension '999' in tenant 'acme'"),
    ],
)
def test_errors_name_the_argument(
    database: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = record(capsys, *argv, "--database", database)
    assert (status, out) == (1, "")
    assert err.strip() == f"centralita: error: {message}"
    with Store.open(database) as store:
        assert store.call_requests.take_pending(10) == []


def test_call_is_required(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = record(capsys, "acme", "main", "--database", database)
    assert status == 2 and "--call" in err


def _serve_one(database: str, result: str, taken: threading.Event) -> None:
    """A stand-in server worker: takes the request and finishes it with ``result``."""
    with Store.open(database) as store:
        while not (requests := store.call_requests.take_pending(1)):
            taken.wait(0.01)  # polled, as the server does: the CLI's row appears in the store
        taken.set()
        store.call_requests.finish(requests[0].id, result)


@pytest.mark.parametrize(("result", "exit_status"), [("saved", 0), ("not answered", 1)])
def test_wait_prints_the_result(
    database: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    result: str,
    exit_status: int,
) -> None:
    monkeypatch.setattr(cli_ivr, "POLL_SECONDS", 0.01)
    taken = threading.Event()
    worker = threading.Thread(target=_serve_one, args=(database, result, taken))
    worker.start()
    try:
        status, out, _ = record(
            capsys, "acme", "main", "--call", "102", "--wait", "--database", database
        )
    finally:
        worker.join(timeout=30)
    assert taken.is_set()
    assert status == exit_status
    assert out.splitlines()[-1] == f"result: {result}"


def test_wait_gives_up_when_no_server_takes_it(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_ivr, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(cli_ivr, "EXPIRES_AFTER", cli_ivr.EXPIRES_AFTER / 1000)
    argv = ["acme", "main", "--call", "101", "--wait", "--database", database]
    status, _, err = record(capsys, *argv)
    assert status == 1
    assert "no server took call request" in err
