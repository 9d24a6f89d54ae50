"""Recording an IVR's greeting by phone (issue 4, "IVR menus"): ``centralita ivr
record-greeting`` queues the request, the server calls the extension's registered phone (a
SIPp UAS), the phone answers, speaks (RTP from a WAV), presses ``#`` to end the recording and
``3`` to save it (SIP INFO, application/dtmf-relay); the greeting is then the menu's file and
the request's result is "saved"."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from centralita.media.codecs_g711 import Pcmu
from centralita.store import Store
from tests.e2e import audio, flows
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e

MENU = {"name": "main", "number": "500", "options": {"1": {"extension": "102"}}}
SPEAK_MS = 15_000  # the instructions (text-to-speech) and the beep, then some speech


def _info(cseq: int, digit: str) -> str:
    """A key press from the called phone (RFC 6086 §4.2), inside the dialog it answered: its
    From is the INVITE's To with our tag, its To the INVITE's From (RFC 3261 §12.2.1.1)."""
    return f"""
  <send retrans="500">
    <![CDATA[

      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      Max-Forwards: 70
      From: [$local];tag=[pid]G[call_number]
      To: [$remote]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160

    ]]>
  </send>
  <recv response="200"/>
"""


def _answering_scenario(path: Path, speech: Path) -> Path:
    """The administrator's phone: answers (PCMU), speaks, ``#``, ``3``, then the PBX's BYE."""
    path.write_text(
        f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="record_greeting_phone">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="remote"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="local"/>
    </action>
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]G[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]G[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [pid][call_number] 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <nop><action><exec rtp_stream="{speech},1,0"/></action></nop>
  <pause milliseconds="{SPEAK_MS}"/>
{_info(1, "#")}
  <pause milliseconds="1500"/>
{_info(2, "3")}
{flows.await_bye(60_000)}
</scenario>
"""
    )
    return path


def _mulaw_tone(path: Path, frequency: float, seconds: float) -> Path:
    """An 8-bit mu-law WAV (WAVE_FORMAT_MULAW, what SIPp's rtp_stream plays)."""
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    pcm = (0.5 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
    data = Pcmu().encode(pcm)
    rate = audio.SAMPLE_RATE
    fmt = struct.pack("<HHIIHHH", 7, 1, rate, rate, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(data)) + b"data" + struct.pack("<I", len(data))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data)
    return path


@pytest.fixture
def pbx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pbx]:
    server = Pbx(tmp_path / "pbx", dial_plan=flows.carrier_plan({"ivr": "main"}, ivrs=[MENU]))
    with flows.serving(request, server) as running:
        yield running


def test_the_administrators_phone_is_called_and_the_greeting_saved(pbx: Pbx, workdir: Path) -> None:
    speech = _mulaw_tone(workdir / "speech.wav", 440.0, SPEAK_MS / 1000 + 5)
    scenario = _answering_scenario(workdir / "record_greeting_phone.xml", speech)
    phone = flows.start_callee(pbx, "101", scenario, workdir, timeout_s=90)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "centralita.cli",
            "ivr",
            "record-greeting",
            "acme",
            "main",
            "--call",
            "101",
            "--wait",
            "120",
            "--database",
            pbx.database_url,
        ],
        capture_output=True,
        text=True,
        timeout=150,
    )
    result = phone.wait(timeout=30)
    assert result.ok, result.describe()
    assert done.returncode == 0, (done.stdout, done.stderr, pbx.log()[-4000:])
    assert done.stdout.splitlines()[-1] == "result: saved"
    greeting = pbx.data_dir / "tenants" / "acme" / "media" / "greetings" / "ivr-main.wav"
    assert greeting.is_file()
    samples, rate = audio.read_wav(greeting)
    assert len(samples) / rate > 3.0  # what the phone said before #
    assert abs(audio.dominant_frequency(samples, rate) - 440.0) < 20
    request_id = int(done.stdout.split()[2].rstrip(":"))
    with Store.open(pbx.database_url) as store:
        finished = store.call_requests.get(request_id)
    assert finished is not None and finished.result == "saved"
    records = flows.wait_call_records(pbx, 1)
    assert flows.statuses(records) == {"101": "answered_in"}
