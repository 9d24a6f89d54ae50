"""MediaAnchor's SDP decisions, sans-I/O: which codecs and keys go to each leg, and the plan
the relay gets (transcoding routes, SRTP per leg)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from centralita.calls.media import MediaAnchor, Side, SrtpPolicy
from centralita.media.srtp import CryptoAttribute, crypto_offer, generate_key
from centralita.media.transform import MediaPlan, PayloadRoute
from centralita.sip.sdp import SdpNotAcceptable, SessionDescription

CODECS = ["PCMU", "PCMA", "G722"]
CALLER_KEY = generate_key()
SHA1_32 = "AES_CM_128_HMAC_SHA1_32"


class PlanningSession:
    """Records what the anchor asks of a relay that can transcode and terminate SRTP."""

    def __init__(self) -> None:
        self.remotes: dict[Side, tuple[str, int]] = {}
        self.plans: list[MediaPlan | None] = []
        self.on_hold = False

    def local_port(self, side: Side) -> int:
        return 40000 if side is Side.A else 40002

    def set_remote(self, side: Side, rtp: tuple[str, int], rtcp: tuple[str, int] | None) -> None:
        self.remotes[side] = rtp

    def set_hold(self, on_hold: bool) -> None:
        self.on_hold = on_hold

    def set_media_plan(self, plan: MediaPlan | None) -> None:
        self.plans.append(plan)

    def close(self) -> None:
        pass


class PassThroughSession(PlanningSession):
    set_media_plan = None  # type: ignore[assignment]  # an older relay without the hook


def sdp(
    formats: str,
    *maps: str,
    host: str = "192.0.2.10",
    port: int = 20000,
    proto: str = "RTP/AVP",
    extra: tuple[str, ...] = (),
    version: int = 1,
) -> bytes:
    lines = [
        "v=0",
        f"o=phone 42 {version} IN IP4 {host}",
        "s=-",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} {proto} {formats}",
        *[f"a=rtpmap:{m}" for m in maps],
        *extra,
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def crypto(key: bytes = CALLER_KEY, tag: int = 1, suite: str = "AES_CM_128_HMAC_SHA1_80") -> str:
    return f"a=crypto:{tag} {suite} inline:{base64.b64encode(key).decode()}"


def audio(body: bytes) -> tuple[str, list[str], list[str]]:
    media = SessionDescription.parse(body).media[0]
    return media.proto, media.formats, media.attribute_values("crypto")


@pytest.fixture
def anchor_for() -> Callable[..., tuple[MediaAnchor, PlanningSession]]:
    def make(
        caller: SrtpPolicy = "off",
        callee: SrtpPolicy = "off",
        session: PlanningSession | None = None,
    ) -> tuple[MediaAnchor, PlanningSession]:
        session = session or PlanningSession()
        addresses = {Side.A: "203.0.113.1", Side.B: "198.51.100.1"}
        anchor = MediaAnchor(
            session, addresses, srtp={Side.A: caller, Side.B: callee}, codecs=CODECS
        )
        return anchor, session

    return make


PCMU_OFFER = sdp("0 101", "0 PCMU/8000", "101 telephone-event/8000", extra=("a=fmtp:101 0-15",))


def test_offer_gains_the_codecs_we_transcode_after_the_callers_own(anchor_for) -> None:
    anchor, _ = anchor_for()
    offer = SessionDescription.parse(anchor.relay(PCMU_OFFER, Side.A)).media[0]
    assert offer.formats == ["0", "101", "8", "9"]
    assert offer.attribute_values("rtpmap")[:2] == ["0 PCMU/8000", "101 telephone-event/8000"]
    assert set(offer.attribute_values("rtpmap")[2:]) == {"8 PCMA/8000", "9 G722/8000"}
    assert offer.port == 40002 and offer.proto == "RTP/AVP"


def test_static_number_taken_by_something_else_gets_a_free_dynamic_one(anchor_for) -> None:
    anchor, _ = anchor_for()
    body = sdp("8 96 9", "8 PCMA/8000", "96 PCMU/8000", "9 telephone-event/8000")
    offer = SessionDescription.parse(anchor.relay(body, Side.A)).media[0]
    # PCMU is already there (as 96); G722 cannot use 9, the offer's telephone-event.
    assert offer.formats == ["8", "96", "9", "97"]
    assert "97 G722/8000" in offer.attribute_values("rtpmap")


def test_offer_with_no_codec_we_can_decode_gains_nothing(anchor_for) -> None:
    anchor, _ = anchor_for()
    offer = SessionDescription.parse(anchor.relay(sdp("18", "18 G729/8000"), Side.A))
    assert offer.media[0].formats == ["18"]


def test_callee_sharing_the_callers_codec_means_pass_through(anchor_for) -> None:
    anchor, session = anchor_for()
    anchor.relay(PCMU_OFFER, Side.A)
    answer = anchor.relay(sdp("0 101", "0 PCMU/8000", "101 telephone-event/8000"), Side.B)
    assert audio(answer)[1] == ["0", "101"]
    assert session.plans == [None]  # the untouched fast path


def test_callee_picking_an_added_codec_is_transcoded_both_ways(anchor_for) -> None:
    anchor, session = anchor_for()
    anchor.relay(PCMU_OFFER, Side.A)
    answer = anchor.relay(
        sdp("9 101", "9 G722/8000", "101 telephone-event/8000", host="192.0.2.20"), Side.B
    )
    media = SessionDescription.parse(answer).media[0]
    assert media.formats == ["0", "101"]  # only what the caller offered
    assert media.attribute_values("rtpmap") == ["0 PCMU/8000", "101 telephone-event/8000"]
    assert session.remotes == {Side.A: ("192.0.2.10", 20000), Side.B: ("192.0.2.20", 20000)}
    plan = session.plans[-1]
    assert plan is not None and plan.srtp_a is None and plan.srtp_b is None
    assert plan.a_to_b is not None and plan.b_to_a is not None
    assert dict(plan.a_to_b.routes) == {
        0: PayloadRoute(9, 8000, 8000, ("PCMU/8000", "G722/8000")),
        101: PayloadRoute(101, 8000, 8000, event=True),
    }
    assert dict(plan.b_to_a.routes) == {
        9: PayloadRoute(0, 8000, 8000, ("G722/8000", "PCMU/8000")),
        101: PayloadRoute(101, 8000, 8000, event=True),
    }


def test_no_telephone_event_for_the_caller_when_the_callee_has_none(anchor_for) -> None:
    anchor, session = anchor_for()
    anchor.relay(PCMU_OFFER, Side.A)
    answer = anchor.relay(sdp("8", "8 PCMA/8000"), Side.B)
    assert audio(answer)[1] == ["0"]
    plan = session.plans[-1]
    assert plan is not None and plan.a_to_b is not None
    assert dict(plan.a_to_b.routes) == {0: PayloadRoute(8, transcode=("PCMU/8000", "PCMA/8000"))}


def test_answer_seen_twice_early_then_final_gives_the_same_result(anchor_for) -> None:
    anchor, session = anchor_for(caller="required")
    anchor.relay(sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=(crypto(),)), Side.A)
    callee_answer = sdp("9", "9 G722/8000")
    early = anchor.relay(callee_answer, Side.B)  # 183 Session Progress
    final = anchor.relay(callee_answer, Side.B)  # 200 OK, same SDP (RFC 3261 §13.2.1)
    assert early == final
    assert session.plans[0] == session.plans[1] and session.plans[0] is not None


def test_reinvite_from_the_callee_renegotiates(anchor_for) -> None:
    anchor, session = anchor_for()
    anchor.relay(PCMU_OFFER, Side.A)
    anchor.relay(sdp("0 101", "0 PCMU/8000", "101 telephone-event/8000"), Side.B)
    assert session.plans == [None]
    reoffer = anchor.relay(sdp("8", "8 PCMA/8000", version=2), Side.B, "offer")
    assert audio(reoffer)[1] == ["8", "0", "9"]
    reanswer = anchor.relay(sdp("0", "0 PCMU/8000", version=2), Side.A, "answer")
    assert audio(reanswer)[1] == ["8"]
    plan = session.plans[-1]
    assert plan is not None and plan.a_to_b is not None and plan.b_to_a is not None
    assert dict(plan.a_to_b.routes) == {0: PayloadRoute(8, transcode=("PCMU/8000", "PCMA/8000"))}
    assert dict(plan.b_to_a.routes) == {8: PayloadRoute(0, transcode=("PCMA/8000", "PCMU/8000"))}


def test_our_o_line_version_rises_only_when_what_we_send_changes(anchor_for) -> None:
    anchor, _ = anchor_for()
    first = SessionDescription.parse(anchor.relay(PCMU_OFFER, Side.A)).origin
    anchor.relay(sdp("0", "0 PCMU/8000"), Side.B)
    again = SessionDescription.parse(anchor.relay(PCMU_OFFER, Side.A, "offer")).origin
    anchor.relay(sdp("0", "0 PCMU/8000"), Side.B)
    changed = SessionDescription.parse(anchor.relay(sdp("8", "8 PCMA/8000"), Side.A, "offer"))
    assert (first.session_id, first.version) == (again.session_id, again.version)
    assert changed.origin.version == first.version + 1


# ---- SRTP ------------------------------------------------------------------------------


def test_srtp_caller_plain_callee_each_leg_keyed_apart(anchor_for) -> None:
    anchor, session = anchor_for()
    offer = anchor.relay(sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=(crypto(),)), Side.A)
    assert audio(offer)[0] == "RTP/AVP" and audio(offer)[2] == []  # the caller's key stays
    answer = anchor.relay(sdp("0", "0 PCMU/8000"), Side.B)
    proto, formats, lines = audio(answer)
    assert (proto, formats, len(lines)) == ("RTP/SAVP", ["0"], 1)
    ours = CryptoAttribute.parse(lines[0])
    assert (ours.tag, ours.suite) == (1, "AES_CM_128_HMAC_SHA1_80")
    plan = session.plans[-1]
    assert plan is not None and plan.srtp_b is None and plan.srtp_a is not None
    assert plan.srtp_a.remote_key == CALLER_KEY and plan.srtp_a.local_key == ours.key
    assert ours.key != CALLER_KEY


def test_required_callee_gets_savp_with_our_keys_fresh_per_leg(anchor_for) -> None:
    anchor, session = anchor_for(callee="required")
    offer = anchor.relay(sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=(crypto(),)), Side.A)
    proto, _, lines = audio(offer)
    assert proto == "RTP/SAVP" and len(lines) == 2  # both suites, one key of ours
    offered = [CryptoAttribute.parse(line) for line in lines]
    callee_key = generate_key()
    answer = anchor.relay(
        sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=(crypto(callee_key, 2, SHA1_32),)),
        Side.B,
    )
    to_caller = CryptoAttribute.parse(audio(answer)[2][0])
    plan = session.plans[-1]
    assert plan is not None and plan.srtp_a is not None and plan.srtp_b is not None
    assert [a.suite for a in offered] == ["AES_CM_128_HMAC_SHA1_80", SHA1_32]
    assert plan.srtp_b.suite == SHA1_32  # the callee chose our second line (RFC 4568 §7.1.2)
    assert plan.srtp_b.remote_key == callee_key and plan.srtp_b.local_key == offered[1].key
    keys = {CALLER_KEY, callee_key, offered[1].key, to_caller.key}
    assert len(keys) == 4  # RFC 4568: every direction of every leg has its own key


def test_required_callee_answering_plain_is_refused(anchor_for) -> None:
    anchor, _ = anchor_for(callee="required")
    anchor.relay(PCMU_OFFER, Side.A)
    with pytest.raises(SdpNotAcceptable):
        anchor.relay(sdp("0", "0 PCMU/8000"), Side.B)


def test_optional_callee_gets_avp_with_keys_and_may_decline(anchor_for) -> None:
    anchor, session = anchor_for(callee="optional")
    proto, _, lines = audio(anchor.relay(PCMU_OFFER, Side.A))
    assert proto == "RTP/AVP" and len(lines) == 2
    anchor.relay(sdp("0 101", "0 PCMU/8000", "101 telephone-event/8000"), Side.B)
    assert session.plans == [None]  # declined: plain RTP both sides, untouched


def test_optional_callee_accepting_keys_runs_srtp_on_its_leg(anchor_for) -> None:
    anchor, session = anchor_for(callee="optional")
    ours = [CryptoAttribute.parse(v) for v in audio(anchor.relay(PCMU_OFFER, Side.A))[2]]
    key = generate_key()
    answer = anchor.relay(sdp("0", "0 PCMU/8000", extra=(crypto(key),)), Side.B)
    assert audio(answer)[0] == "RTP/AVP" and audio(answer)[2] == []  # the caller stays plain
    plan = session.plans[-1]
    assert plan is not None and plan.srtp_a is None and plan.srtp_b is not None
    assert (plan.srtp_b.local_key, plan.srtp_b.remote_key) == (ours[0].key, key)


def test_required_caller_offering_plain_rtp_gets_488(anchor_for) -> None:
    anchor, _ = anchor_for(caller="required")
    with pytest.raises(SdpNotAcceptable) as raised:
        anchor.relay(PCMU_OFFER, Side.A)
    assert raised.value.status_code == 488


def test_savp_offer_without_a_usable_crypto_line_gets_488(anchor_for) -> None:
    anchor, _ = anchor_for()
    unusable = "a=crypto:1 F8_128_HMAC_SHA1_80 inline:" + base64.b64encode(CALLER_KEY).decode()
    with pytest.raises(SdpNotAcceptable):
        anchor.relay(sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=(unusable,)), Side.A)


def test_reoffer_with_the_same_keys_keeps_ours(anchor_for) -> None:
    anchor, session = anchor_for()
    offer = sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=(crypto(),))
    anchor.relay(offer, Side.A)
    first = audio(anchor.relay(sdp("0", "0 PCMU/8000"), Side.B))[2]
    anchor.relay(sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=(crypto(),), version=2), Side.A)
    second = audio(anchor.relay(sdp("0", "0 PCMU/8000", version=2), Side.B))[2]
    assert first == second  # same key: the running SRTP contexts stay valid
    assert session.plans[0] == session.plans[1]


def test_without_the_transform_hook_sdp_passes_end_to_end(anchor_for) -> None:
    anchor, session = anchor_for(session=PassThroughSession())
    lines = [a.line for a in crypto_offer()]
    offer = anchor.relay(sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=tuple(lines)), Side.A)
    proto, formats, offered = audio(offer)
    assert (proto, formats) == ("RTP/SAVP", ["0"]) and len(offered) == 2
    answer = anchor.relay(sdp("0", "0 PCMU/8000", proto="RTP/SAVP", extra=(crypto(),)), Side.B)
    assert audio(answer)[2] == [crypto().removeprefix("a=crypto:")]
    assert session.plans == []
