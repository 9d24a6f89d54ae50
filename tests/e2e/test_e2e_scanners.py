"""SIP scanners against the PBX (sipvicious): no extension list leaks, a cracker is banned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.pbx import Pbx
from tests.e2e.ports import HOST, free_port

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def _scan(tool: str, *args: str, seconds: int = 8) -> str:
    # sipvicious binds port 5060 unless told otherwise: -P gives it a port of its own.
    command = [str(BIN / tool), *args, "-P", str(free_port()), "--maximumtime", str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    return done.stdout + done.stderr


def test_svwar_cannot_tell_extensions_apart(pbx: Pbx) -> None:
    out = _scan("sipvicious_svwar", "-e100-199", "-m", "REGISTER", HOST, "-p", str(pbx.sip_port))
    assert "authentication request for an unknown extension" in out, out
    assert "found nothing" in out, out
    for number in ("101", "102", "103", "104"):
        assert f"| {number}" not in out  # no table row naming a real extension


def test_svcrack_is_banned_before_it_reaches_the_right_password(pbx: Pbx, tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("\n".join([*(f"guess{n}" for n in range(40)), "s3cret-101"]) + "\n")
    out = _scan("sipvicious_svcrack", "-u", "101", "-d", str(words), HOST, "-p", str(pbx.sip_port))
    assert "s3cret-101" not in out, out
    assert "found nothing" in out, out
    assert "address banned after repeated authentication failures" in pbx.log()
