"""``centralita extension dnd`` and ``centralita extension forward``: the settings a user can
also change from the phone, which re-applying a tenants YAML leaves as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.cli import main
from centralita.store import DATABASE_URL_ENV, ExtensionInfo, Store

TENANTS = """\
tenants:
  - name: acme
    domain: acme.test
    country: ES
    extensions:
      - {number: "101", name: Alice, password: "s3cret-101"}
      - {number: "102", name: Bob, password: "s3cret-102"}
"""


@pytest.fixture
def yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The acme tenant applied to a fresh database, which every command of the test uses."""
    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'centralita.sqlite3'}")
    path = tmp_path / "acme.yaml"
    path.write_text(TENANTS)
    assert main(["apply", str(path)]) == 0
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def extension(number: str) -> ExtensionInfo:
    with Store.open() as store:
        acme = store.tenants.get_by_name("acme")
        assert acme is not None
        info = store.extensions.get(acme.id, number)
    assert info is not None
    return info


def test_dnd_on_and_off(yaml_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(capsys, "extension", "dnd", "acme", "101", "on") == (
        0,
        "do-not-disturb on for extension 101 of acme\n",
        "",
    )
    assert extension("101").dnd is True
    assert extension("102").dnd is False
    assert run(capsys, "extension", "dnd", "acme", "101", "OFF")[0] == 0
    assert extension("101").dnd is False


def test_dnd_errors(yaml_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "extension", "dnd", "acme", "101", "maybe")
    assert status == 2 and "argument on|off: expected on or off, got 'maybe'" in err
    assert run(capsys, "extension", "dnd", "acme", "199", "on") == (
        1,
        "",
        "centralita: error: unknown extension '199' in tenant 'acme'\n",
    )
    assert run(capsys, "extension", "dnd", "nope", "101", "on")[2] == (
        "centralita: error: unknown tenant 'nope'\n"
    )


@pytest.mark.parametrize(
    ("target", "stored"),
    [
        ("102", "102"),
        ("+34600111222", "+34600111222"),
        ("600 11 12 22", "+34600111222"),  # national, in the tenant's country
        ("00442079460000", "+442079460000"),
    ],
)
def test_forward(
    yaml_file: Path, capsys: pytest.CaptureFixture[str], target: str, stored: str
) -> None:
    capsys.readouterr()
    assert run(capsys, "extension", "forward", "acme", "101", target) == (
        0,
        f"extension 101 of acme is forwarded to {stored}\n",
        "",
    )
    assert extension("101").forward_to == stored
    assert run(capsys, "extension", "forward", "acme", "101", "off") == (
        0,
        "extension 101 of acme is not forwarded\n",
        "",
    )
    assert extension("101").forward_to is None


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("101", "TARGET: 101 is the extension itself"),
        ("150", "TARGET: 150 is neither an extension nor a valid number in ES"),
        ("+34806123456", "TARGET: +34806123456 is a premium-rate number"),
        ("sales", "TARGET: sales is neither an extension nor a valid number in ES"),
    ],
)
def test_forward_errors_name_the_target(
    yaml_file: Path, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    run(capsys, "extension", "forward", "acme", "101", "102")
    assert run(capsys, "extension", "forward", "acme", "101", target) == (
        2,
        "",
        f"centralita: error: {message}\n",
    )
    assert extension("101").forward_to == "102"  # unchanged


def test_forward_of_an_unknown_extension(
    yaml_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "extension", "forward", "acme", "199", "101") == (
        1,
        "",
        "centralita: error: unknown extension '199' in tenant 'acme'\n",
    )


def test_reapplying_the_yaml_keeps_dnd_and_forward(
    yaml_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "extension", "dnd", "acme", "101", "on")
    run(capsys, "extension", "forward", "acme", "101", "102")
    run(capsys, "extension", "forward", "acme", "102", "+34600111222")
    assert run(capsys, "apply", str(yaml_file))[1] == "no changes\n"
    yaml_file.write_text(TENANTS.replace("Alice", "Alicia"))
    assert run(capsys, "apply", str(yaml_file))[1] == "~ extension acme/101: name\n"
    alice = extension("101")
    assert (alice.name, alice.dnd, alice.forward_to) == ("Alicia", True, "102")
    assert extension("102").forward_to == "+34600111222"


def test_pruning_the_target_clears_the_forward(
    yaml_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "extension", "forward", "acme", "101", "102")
    yaml_file.write_text(TENANTS.replace('      - {number: "102", name: Bob', "#"))
    out = run(capsys, "apply", "--prune", str(yaml_file))[1]
    assert out.splitlines() == ["- extension acme/102", "~ dialplan acme: extensions"]
    assert extension("101").forward_to is None
