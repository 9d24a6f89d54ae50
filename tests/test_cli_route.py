"""``centralita route`` against a store the example dial plan was applied to."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.cli import main

VECTOR = Path(__file__).parent / "vectors" / "config" / "dialplan_acme.yaml"


@pytest.fixture
def database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'route.sqlite3'}"
    assert main(["apply", "--database", url, str(VECTOR)]) == 0
    capsys.readouterr()
    return url


def route(capsys: pytest.CaptureFixture[str], database: str, *argv: str) -> tuple[int, str, str]:
    status = main(["route", "--database", database, *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_christmas_night_goes_to_voicemail(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = route(
        capsys,
        database,
        "--tenant=acme",
        "--from=+34600999888",
        "--to=+34910000000",
        "--at=2026-12-25 22:00",
    )
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "call from +34600999888 to +34910000000 at 2026-12-25 22:00 CET (Europe/Madrid)",
        "1. number +34910000000 → schedule office",
        "2. schedule office: closed: public holiday Natividad del Señor (ES-MD)"
        " → voicemail general",
        "3. voicemail general: e-mail to office@acme.test",
    ]


def test_summer_time_and_an_internal_number(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = route(
        capsys, database, "--tenant", "acme", "--to", "500", "--at", "2026-07-01 12:00"
    )
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "call from unknown to 500 at 2026-07-01 12:00 CEST (Europe/Madrid)"
    assert lines[1] == "1. internal 500 → ivr main"
    assert lines[2].startswith("2. ivr main: greeting prompt welcome; keys 1 → ring group sales")
    assert len(lines) == 3


def test_an_extension_removed_after_apply_is_not_found(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["extension", "remove", "acme", "102", "--database", database]) == 0
    capsys.readouterr()
    status, out, _ = route(capsys, database, "--tenant", "acme", "--to", "102")
    assert status == 0
    assert out.splitlines()[1:] == [
        "1. internal 102 → extension 102",
        "2. extension 102: not found (404)",
    ]


def test_without_at_the_current_time_is_used(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = route(capsys, database, "--tenant", "acme", "--to", "+34910000000")
    assert status == 0
    assert "(Europe/Madrid)" in out.splitlines()[0]
    assert out.splitlines()[2].startswith("2. schedule office: ")


def test_unknown_tenant_names_the_option(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = route(capsys, database, "--tenant", "nobody", "--to", "101")
    assert (status, out) == (1, "")
    assert err == "centralita: error: --tenant: unknown tenant 'nobody'\n"


def test_tenant_without_a_dial_plan(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "add", "bare", "bare.test", "--database", database]) == 0
    capsys.readouterr()
    status, _, err = route(capsys, database, "--tenant", "bare", "--to", "101")
    assert status == 1
    assert err.startswith("centralita: error: --tenant: tenant 'bare' has no dial plan")


@pytest.mark.parametrize("at", ["2026-12-25", "25/12/2026 22:00", "2026-13-01 10:00"])
def test_bad_at_names_the_option(
    database: str, capsys: pytest.CaptureFixture[str], at: str
) -> None:
    status, out, err = route(capsys, database, "--tenant", "acme", "--to", "101", "--at", at)
    assert (status, out) == (2, "")
    assert 'argument --at: expected "YYYY-MM-DD HH:MM"' in err
