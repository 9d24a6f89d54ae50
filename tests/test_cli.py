from __future__ import annotations

import re
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

from centralita.cli import main
from centralita.config import ServeOptions
from centralita.store import DATABASE_URL_ENV, Store


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The database every command of the test uses, through the environment."""
    url = f"sqlite:///{tmp_path / 'var' / 'centralita.sqlite3'}"
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    monkeypatch.chdir(tmp_path)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_entry_point_is_installed() -> None:
    script = Path(sys.executable).parent / "centralita"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for command in ("serve", "apply", "tenant", "extension", "demo"):
        assert command in result.stdout


def test_entry_point_runs_an_admin_command(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "centralita"
    database = f"sqlite:///{tmp_path / 'pbx.sqlite3'}"
    for argv in (["tenant", "add", "acme", "acme.test"], ["tenant", "list"]):
        result = subprocess.run(
            [str(script), *argv, "--database", database],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    assert re.search(r"^acme\s+acme\.test\s+0$", result.stdout, re.MULTILINE)


def test_demo_creates_once_and_prints_every_time(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, first, _ = run(capsys, "demo")
    assert status == 0
    assert "+ tenant demo" in first and "demo.centralita.test" in first
    passwords = dict(re.findall(r"^(10[1-5])\s+\w+\s+(\S+)$", first, re.MULTILINE))
    assert sorted(passwords) == ["101", "102", "103", "104", "105"]
    assert all(len(p) >= 16 for p in passwords.values())
    saved = tmp_path / "var" / "demo-passwords.txt"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert all(f"{n} {p}" in saved.read_text() for n, p in passwords.items())

    status, second, _ = run(capsys, "demo")
    assert status == 0
    assert "+ " not in second  # nothing created the second time...
    assert dict(re.findall(r"^(10[1-5])\s+\w+\s+(\S+)$", second, re.MULTILINE)) == passwords
    with Store.open(db) as store:
        demo = store.tenants.get_default()
        assert demo is not None and demo.name == "demo"
        assert all(store.extensions.password_matches(demo.id, n, p) for n, p in passwords.items())


def test_tenant_commands(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "tenant", "add", "acme", "ACME.test", "--default")[1] == (
        "added tenant acme with domain acme.test (default tenant)\n"
    )
    status, _, err = run(capsys, "tenant", "add", "other", "acme.test")
    assert (status, err) == (
        1,
        "centralita: error: domain 'acme.test' already belongs to tenant 'acme'\n",
    )
    status, out, _ = run(capsys, "tenant", "list")
    assert out.splitlines() == [
        "TENANT  DOMAIN     DEFAULT  EXTENSIONS",
        "acme    acme.test  yes      0",
    ]
    assert run(capsys, "tenant", "remove", "acme")[0] == 0
    assert run(capsys, "tenant", "remove", "acme") == (
        1,
        "",
        "centralita: error: unknown tenant 'acme'\n",
    )
    status, _, err = run(capsys, "tenant", "add", "Bad Name", "x.test")
    assert status == 2 and "argument NAME: invalid tenant name 'Bad Name'" in err


def test_extension_commands(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "tenant", "add", "acme", "acme.test")
    status, out, _ = run(capsys, "extension", "add", "acme", "101", "--name", "Alice")
    assert status == 0
    generated = re.search(r"^password: (\S+)$", out, re.MULTILINE)
    assert generated is not None and len(generated.group(1)) >= 16
    status, out, _ = run(capsys, "extension", "add", "acme", "102", "--password", "chosen-pw-102")
    assert status == 0 and "password:" not in out
    with Store.open(db) as store:
        acme = store.tenants.get_by_name("acme")
        assert acme is not None
        assert store.extensions.password_matches(acme.id, "101", generated.group(1))
        assert store.extensions.password_matches(acme.id, "102", "chosen-pw-102")
    assert run(capsys, "extension", "list", "acme")[1].splitlines() == [
        "NUMBER  NAME   CALL WAITING  PASSWORD SET",
        "101     Alice  off           yes",
        "102            off           yes",
    ]
    assert run(capsys, "extension", "remove", "acme", "102")[0] == 0
    assert run(capsys, "extension", "remove", "acme", "102") == (
        1,
        "",
        "centralita: error: unknown extension '102' in tenant 'acme'\n",
    )


def test_extension_errors(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "tenant", "add", "acme", "acme.test")
    assert run(capsys, "extension", "list", "nope") == (
        1,
        "",
        "centralita: error: unknown tenant 'nope'\n",
    )
    assert (
        run(capsys, "extension", "add", "nope", "101")[2]
        == "centralita: error: unknown tenant 'nope'\n"
    )
    status, _, err = run(capsys, "extension", "add", "acme", "101", "--password", "short")
    assert (status, err) == (
        2,
        "centralita: error: --password: String should have at least 8 characters\n",
    )
    status, _, err = run(capsys, "extension", "add", "acme", "1")
    assert status == 2 and "argument NUMBER: invalid number '1': must be 2 to 6 digits" in err


TENANTS = """\
tenants:
  - name: acme
    domain: acme.test
    extensions:
      - {number: "101", name: Alice, password: "s3cret-101"}
"""


def test_apply_command(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(TENANTS)
    assert run(capsys, "apply", "--dry-run", str(path))[1] == (
        "(dry run) + tenant acme\n(dry run) + extension acme/101\n"
    )
    assert run(capsys, "apply", str(path))[1] == "+ tenant acme\n+ extension acme/101\n"
    assert run(capsys, "apply", str(path))[1] == "no changes\n"
    path.write_text(TENANTS.replace("s3cret-101", "short").replace("Alice", "Alicia"))
    status, out, err = run(capsys, "apply", str(path))
    assert (status, out) == (1, "")
    field = "tenants[0].extensions[0].password"
    assert err == f"{path}:5: {field}: String should have at least 8 characters\n"
    with Store.open(db) as store:
        acme = store.tenants.get_by_name("acme")
        assert acme is not None
        assert store.extensions.password_matches(acme.id, "101", "s3cret-101")
        alice = store.extensions.get(acme.id, "101")
        assert alice is not None and alice.name == "Alice"


def test_apply_prune(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(TENANTS)
    run(capsys, "apply", str(path))
    run(capsys, "extension", "add", "acme", "150")
    assert run(capsys, "apply", str(path))[1] == "no changes\n"
    assert run(capsys, "apply", "--prune", str(path))[1] == "- extension acme/150\n"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> list[ServeOptions]:
    """A stand-in for centralita.server that records what it was asked to run."""
    calls: list[ServeOptions] = []
    fake = types.ModuleType("centralita.server")

    def run_server(options: ServeOptions) -> int:
        calls.append(options)
        return 0

    fake.run_server = run_server  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "centralita.server", fake)
    return calls


def test_serve_merges_config_file_and_options(
    db: str, tmp_path: Path, server: list[ServeOptions], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "pbx.yaml"
    settings.write_text("rtp_ports: 30000-30100\nring_timeout: 20\nsip_trace: true\n" + TENANTS)
    argv = ["serve", "--config", str(settings), "--sip-listen", "127.0.0.1:25060", "[::1]:25060"]
    assert (
        run(
            capsys,
            *argv,
            "--log-level",
            "DEBUG",
            "--digest-algorithms",
            "sha-256,MD5",
            "--ring-timeout",
            "7.5",
        )[0]
        == 0
    )
    (options,) = server
    assert options.database_url == db
    assert options.sip_listen == ["127.0.0.1:25060", "[::1]:25060"]
    assert (options.rtp_ports, options.ring_timeout, options.sip_trace) == (
        (30000, 30100),
        7.5,
        True,
    )
    assert (options.log_level, options.digest_algorithms) == ("DEBUG", ("SHA-256", "MD5"))
    assert options.tenants_config is not None
    assert options.tenants_config.tenants[0].name == "acme"


def test_serve_refuses_bad_options(
    db: str, tmp_path: Path, server: list[ServeOptions], capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "serve", "--rtp-ports", "30000")
    assert status == 2 and "argument --rtp-ports: expected LOW-HIGH, got '30000'" in err
    status, _, err = run(capsys, "serve", "--log-level", "loud")
    assert status == 2 and "argument --log-level: invalid choice: 'loud'" in err
    status, _, err = run(capsys, "serve", "--digest-algorithms", "MD5,SHA-1")
    assert status == 2 and "argument --digest-algorithms: expected a list of MD5, SHA-256" in err
    status, _, err = run(capsys, "serve", "--ring-timeout", "-3")
    assert status == 2 and "argument --ring-timeout: expected seconds" in err
    settings = tmp_path / "pbx.yaml"
    settings.write_text("sip_listen:\n  - 127.0.0.1:5060\n  - nowhere\n")
    status, _, err = run(capsys, "serve", "--config", str(settings))
    assert status == 2
    assert err == f"{settings}:3: sip_listen[1]: Value error, expected HOST:PORT, got 'nowhere'\n"
    assert server == []
