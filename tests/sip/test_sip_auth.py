"""Digest authentication (centralita.sip.auth): published vectors, the server's checks, fuzzing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centralita.sip.auth import (
    AuthResult,
    DigestAuthenticator,
    MalformedCredentials,
    credentials_for_realm,
    digest_response,
    ha1,
    parse_credentials,
    uri_matches,
)
from centralita.sip.auth_client import DigestChallenge, build_authorization, parse_challenge
from centralita.sip.errors import SipError

SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "acme.test"
URI = "sip:102@acme.test"
PASSWORDS = {"101": "s3cret", "ñandú": "pässwörd"}


def lookup(username: str, realm: str, algorithm: str) -> str | None:
    password = PASSWORDS.get(username)
    if password is None or realm != REALM:
        return None
    return ha1(username, realm, password, algorithm)


def answer(
    challenge_value: str,
    *,
    username: str = "101",
    password: str = "s3cret",
    method: str = "INVITE",
    uri: str = URI,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    return build_authorization(
        parse_challenge(challenge_value),
        username=username,
        password=password,
        method=method,
        uri=uri,
        nc=nc,
        cnonce="0a4f113b",
        body=body,
    )


def verify(auth: DigestAuthenticator, value: str, now: float, **kw: object) -> AuthResult:
    args: dict[str, object] = {
        "method": "INVITE",
        "request_uri": URI,
        "realm": REALM,
        "lookup_ha1": lookup,
        "now": now,
    }
    args.update(kw)
    return auth.verify(value, **args).result  # type: ignore[arg-type]


# --- published vectors -------------------------------------------------------------------


def test_rfc2617_section_3_5_mufasa() -> None:
    secret = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    response = digest_response(
        secret,
        algorithm="MD5",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1(algorithm: str, expected: str) -> None:
    secret = ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    response = digest_response(
        secret,
        algorithm=algorithm,
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert response == expected


def test_sip_vector_bob_biloxi() -> None:
    # draft-smith-sipping-auth-examples-01 §3.2 (also used by FreeRADIUS's digest tests).
    secret = ha1("bob", "biloxi.com", "zanzibar")
    assert secret == "12af60467a33e8518da5c68bbff12b11"
    value = (
        'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",'
        ' uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b",'
        ' response="89eb0059246c02b2f6ee02c7961d5ea3", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    creds = parse_credentials(value)
    recomputed = digest_response(
        secret,
        algorithm=creds.algorithm,
        nonce=creds.nonce,
        method="INVITE",
        uri=creds.uri,
        qop=creds.qop,
        nc=creds.nc,
        cnonce=creds.cnonce,
    )
    assert recomputed == creds.response
    assert creds.nonce_count == 1 and creds.opaque == "5ccc069c403ebaf9f0171e9517f40e41"


def test_ha1_rejects_unknown_algorithm() -> None:
    with pytest.raises(ValueError):
        ha1("a", "b", "c", "SHA-1")
    assert ha1("a", "b", "c", "sha-256") == hashlib.sha256(b"a:b:c").hexdigest()


# --- challenges --------------------------------------------------------------------------


def test_challenge_one_value_per_algorithm_preferred_first() -> None:
    auth = DigestAuthenticator(SECRET)
    values = auth.challenge(REALM, 1000.0)
    parsed = [parse_challenge(v) for v in values]
    assert [c.algorithm for c in parsed] == ["SHA-256", "MD5"]
    assert all(c.realm == REALM and c.qop_options == ("auth",) for c in parsed)
    assert parsed[0].nonce == parsed[1].nonce
    assert not parsed[0].stale
    assert all(parse_challenge(v).stale for v in auth.challenge(REALM, 1000.0, stale=True))


def test_challenges_do_not_repeat_nonces() -> None:
    auth = DigestAuthenticator(SECRET)
    nonces = {parse_challenge(auth.challenge(REALM, 5.0)[0]).nonce for _ in range(50)}
    assert len(nonces) == 50


def test_realm_with_quotes_is_escaped() -> None:
    auth = DigestAuthenticator(SECRET, algorithms=("MD5",))
    (value,) = auth.challenge('we "quote" \\ here', 0.0)
    assert parse_challenge(value).realm == 'we "quote" \\ here'


def test_constructor_validates() -> None:
    with pytest.raises(ValueError):
        DigestAuthenticator(b"short")
    with pytest.raises(ValueError):
        DigestAuthenticator(SECRET, algorithms=("SHA-1",))
    with pytest.raises(ValueError):
        DigestAuthenticator(SECRET, qop_options=("auth-conf",))


# --- verification ------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1])
def test_right_password_ok_for_both_algorithms(index: int) -> None:
    auth = DigestAuthenticator(SECRET)
    value = answer(auth.challenge(REALM, 10.0)[index])
    outcome = auth.verify(
        value, method="INVITE", request_uri=URI, realm=REALM, lookup_ha1=lookup, now=11.0
    )
    assert outcome.ok and outcome.username == "101"
    assert parse_credentials(value).algorithm == ("SHA-256", "MD5")[index]


def test_non_ascii_username_and_password() -> None:
    auth = DigestAuthenticator(SECRET)
    value = answer(auth.challenge(REALM, 0.0)[0], username="ñandú", password="pässwörd")
    assert verify(auth, value, 1.0) is AuthResult.OK


def test_wrong_password_and_unknown_user_are_indistinguishable() -> None:
    auth = DigestAuthenticator(SECRET)
    challenge = auth.challenge(REALM, 0.0)[0]
    wrong = auth.verify(
        answer(challenge, password="nope"),
        method="INVITE",
        request_uri=URI,
        realm=REALM,
        lookup_ha1=lookup,
        now=1.0,
    )
    unknown = auth.verify(
        answer(challenge, username="999"),
        method="INVITE",
        request_uri=URI,
        realm=REALM,
        lookup_ha1=lookup,
        now=1.0,
    )
    assert wrong.result is unknown.result is AuthResult.FAILED
    assert wrong.reason == unknown.reason  # nothing in the outcome tells them apart
    # and the next challenge carries nothing user-specific either
    assert auth.challenge(REALM, 2.0)[0].split("nonce=")[0] == challenge.split("nonce=")[0]


def test_unknown_user_whose_decoy_is_guessed_still_fails() -> None:
    auth = DigestAuthenticator(SECRET)
    # Even a response computed from the decoy HA1 (if an attacker knew the secret) fails.
    challenge = parse_challenge(auth.challenge(REALM, 0.0)[1])
    creds = parse_credentials(answer(auth.challenge(REALM, 0.0)[1], username="999"))
    decoy = auth._decoy_ha1(creds, "MD5")
    response = digest_response(
        decoy,
        algorithm="MD5",
        nonce=challenge.nonce,
        method="INVITE",
        uri=URI,
        qop="auth",
        nc="00000001",
        cnonce="c",
    )
    value = (
        f'Digest username="999", realm="{REALM}", nonce="{challenge.nonce}", uri="{URI}", '
        f'response="{response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"'
    )
    assert verify(auth, value, 1.0) is AuthResult.FAILED


def test_wrong_realm_fails() -> None:
    auth = DigestAuthenticator(SECRET)
    value = answer(auth.challenge("other.test", 0.0)[0])
    assert verify(auth, value, 1.0) is AuthResult.FAILED
    # a nonce minted for another realm (tenant) is refused even if the realm param is ours
    other = parse_challenge(auth.challenge("other.test", 0.0)[0])
    moved = DigestChallenge(
        realm=REALM, nonce=other.nonce, algorithm="SHA-256", qop_options=("auth",)
    )
    forged = build_authorization(moved, username="101", password="s3cret", method="INVITE", uri=URI)
    assert verify(auth, forged, 1.0) is AuthResult.FAILED


def test_uri_must_match_request_uri() -> None:
    auth = DigestAuthenticator(SECRET)
    value = answer(auth.challenge(REALM, 0.0)[0], uri="sip:127.0.0.1:5060")
    assert verify(auth, value, 1.0) is AuthResult.FAILED
    equivalent = answer(auth.challenge(REALM, 0.0)[0], uri="SIP:102@ACME.test")
    assert verify(auth, equivalent, 1.0) is AuthResult.OK


def test_uri_comparison_rules() -> None:
    assert uri_matches("sip:102@acme.test;transport=udp;x=1", "sip:102@ACME.TEST;X=1;transport=UDP")
    assert uri_matches("sip:%31%30%32@acme.test", "sip:102@acme.test")
    assert uri_matches("sip:102@acme.test;lr", "sip:102@acme.test")  # other params: either side
    assert not uri_matches("sip:Alice@acme.test", "sip:alice@acme.test")  # user is case-sensitive
    assert not uri_matches("sip:102@acme.test;transport=tcp", "sip:102@acme.test")
    assert not uri_matches("sip:102@acme.test:5060", "sip:102@acme.test")
    assert not uri_matches("sips:102@acme.test", "sip:102@acme.test")
    assert not uri_matches("102@acme.test", "sip:102@acme.test")


def test_method_is_part_of_the_hash() -> None:
    auth = DigestAuthenticator(SECRET)
    value = answer(auth.challenge(REALM, 0.0)[0], method="REGISTER")
    assert verify(auth, value, 1.0, method="INVITE") is AuthResult.FAILED


def test_expired_nonce_with_right_credentials_is_stale() -> None:
    auth = DigestAuthenticator(SECRET, nonce_ttl=300.0)
    challenge = auth.challenge(REALM, 0.0)[0]
    assert verify(auth, answer(challenge), 300.0) is AuthResult.OK
    outcome = auth.verify(
        answer(challenge, nc=2),
        method="INVITE",
        request_uri=URI,
        realm=REALM,
        lookup_ha1=lookup,
        now=300.5,
    )
    assert outcome.result is AuthResult.STALE and outcome.stale and not outcome.ok
    # stale is only for right credentials
    assert verify(auth, answer(challenge, nc=3, password="x"), 301.0) is AuthResult.FAILED


def test_nonce_from_the_future_is_stale() -> None:
    auth = DigestAuthenticator(SECRET)
    value = answer(auth.challenge(REALM, 1000.0)[0])
    assert verify(auth, value, 900.0) is AuthResult.STALE


def test_forged_nonces_fail() -> None:
    auth = DigestAuthenticator(SECRET)
    real = parse_challenge(auth.challenge(REALM, 0.0)[0]).nonce
    flipped = real[:-2] + ("A" if real[-2] != "A" else "B") + real[-1]
    other_secret = DigestAuthenticator(b"another secret, 32 bytes long!!!")
    foreign = parse_challenge(other_secret.challenge(REALM, 0.0)[0]).nonce
    for nonce in (flipped, foreign, "dcd98b7102dd2f0e8b11d0f600bfb0c093", real + "=", "é"):
        challenge = DigestChallenge(REALM, nonce, "SHA-256", ("auth",))
        value = build_authorization(
            challenge, username="101", password="s3cret", method="INVITE", uri=URI
        )
        assert verify(auth, value, 1.0) is AuthResult.FAILED, nonce


def test_nonce_count_replay_is_refused() -> None:
    auth = DigestAuthenticator(SECRET)
    challenge = auth.challenge(REALM, 0.0)[0]
    first = answer(challenge, nc=1)
    assert verify(auth, first, 1.0) is AuthResult.OK
    assert verify(auth, first, 2.0) is AuthResult.FAILED  # replay
    assert verify(auth, answer(challenge, nc=3), 3.0) is AuthResult.OK  # gaps are fine
    assert verify(auth, answer(challenge, nc=2), 4.0) is AuthResult.FAILED  # not increasing
    assert verify(auth, answer(challenge, nc=4), 5.0) is AuthResult.OK


def test_failed_attempt_does_not_consume_nonce_count() -> None:
    auth = DigestAuthenticator(SECRET)
    challenge = auth.challenge(REALM, 0.0)[0]
    assert verify(auth, answer(challenge, nc=5, password="bad"), 1.0) is AuthResult.FAILED
    assert verify(auth, answer(challenge, nc=1), 2.0) is AuthResult.OK


def test_nonce_count_memory_is_pruned_with_expiry() -> None:
    auth = DigestAuthenticator(SECRET, nonce_ttl=60.0)
    for step in range(20):
        assert verify(auth, answer(auth.challenge(REALM, float(step))[0]), step + 0.5) is (
            AuthResult.OK
        )
    assert auth.tracked_nonces == 20
    assert verify(auth, answer(auth.challenge(REALM, 200.0)[0]), 200.0) is AuthResult.OK
    assert auth.tracked_nonces == 1


def test_nonce_count_memory_is_capped_and_evicted_nonces_turn_stale() -> None:
    auth = DigestAuthenticator(SECRET, max_tracked_nonces=3)
    challenges = [auth.challenge(REALM, float(i))[0] for i in range(5)]
    for i, challenge in enumerate(challenges):
        assert verify(auth, answer(challenge), 10.0 + i) is AuthResult.OK
    assert auth.tracked_nonces == 3
    # the evicted nonce cannot be replayed: the client is told to fetch a fresh one
    assert verify(auth, answer(challenges[0]), 20.0) is AuthResult.STALE
    assert verify(auth, answer(challenges[4], nc=2), 20.0) is AuthResult.OK


def test_rfc2069_response_without_qop() -> None:
    auth = DigestAuthenticator(SECRET)
    c = parse_challenge(auth.challenge(REALM, 0.0)[1])
    legacy = DigestChallenge(c.realm, c.nonce, "MD5", ())
    value = build_authorization(legacy, username="101", password="s3cret", method="INVITE", uri=URI)
    assert "qop" not in value and "nc=" not in value
    assert verify(auth, value, 1.0) is AuthResult.OK


def test_auth_int_hashes_the_body() -> None:
    auth = DigestAuthenticator(SECRET, qop_options=("auth-int",))
    challenge = auth.challenge(REALM, 0.0)[0]
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    value = answer(challenge, body=body)
    assert parse_credentials(value).qop == "auth-int"
    assert verify(auth, value, 1.0, body=body) is AuthResult.OK
    tampered = answer(challenge, body=body, nc=2)
    assert verify(auth, tampered, 2.0, body=body + b"x") is AuthResult.FAILED
    # RFC 3261 §22.4 item 7: no body hashes as H("")
    assert verify(auth, answer(challenge, nc=3), 3.0) is AuthResult.OK


def test_qop_not_offered_is_refused() -> None:
    auth = DigestAuthenticator(SECRET)  # offers qop=auth only
    c = parse_challenge(auth.challenge(REALM, 0.0)[0])
    int_challenge = DigestChallenge(c.realm, c.nonce, c.algorithm, ("auth-int",))
    value = build_authorization(
        int_challenge, username="101", password="s3cret", method="INVITE", uri=URI
    )
    assert verify(auth, value, 1.0) is AuthResult.FAILED


def test_algorithm_not_offered_is_refused() -> None:
    auth = DigestAuthenticator(SECRET, algorithms=("SHA-256",))
    c = parse_challenge(auth.challenge(REALM, 0.0)[0])
    md5 = DigestChallenge(c.realm, c.nonce, "MD5", c.qop_options)
    value = build_authorization(md5, username="101", password="s3cret", method="INVITE", uri=URI)
    assert verify(auth, value, 1.0) is AuthResult.FAILED


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess"])
def test_sess_algorithms(algorithm: str) -> None:
    auth = DigestAuthenticator(SECRET, algorithms=(algorithm,))
    (value,) = auth.challenge(REALM, 0.0)
    assert parse_challenge(value).algorithm == algorithm
    assert verify(auth, answer(value), 1.0) is AuthResult.OK
    assert verify(auth, answer(value, nc=2, password="no"), 1.0) is AuthResult.FAILED


# --- parsing -----------------------------------------------------------------------------


def test_parse_credentials_quoting_case_and_unknown_params() -> None:
    value = (
        'digest  USERNAME="a\\"b\\\\c" ,realm = "acme.test",nonce="n", uri="sip:x@y",'
        ' response="ABC", Algorithm="sha-256", QOP="Auth", nc=0000000A, cnonce="cn",'
        ' foo=bar, baz="qux, quux",'
    )
    creds = parse_credentials(value)
    assert creds.username == 'a"b\\c'
    assert creds.realm == "acme.test"
    assert creds.algorithm == "SHA-256"
    assert creds.qop == "auth"
    assert creds.nc == "0000000A" and creds.nonce_count == 10
    assert creds.response == "ABC"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Digest",
        'Basic dXNlcjpwYXNz"',
        'Digest username="a", realm="r", nonce="n", uri="u"',  # no response
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", username="b"',
        'Digest username="a, realm="r", nonce="n", uri="u", response="x"',  # unterminated
        'Digest username="a" realm="r", nonce="n", uri="u", response="x"',  # missing comma
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth',
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth, nc=1,'
        ' cnonce="c"',
        'Digest username, realm="r", nonce="n", uri="u", response="x"',
        'Digest username="a\x00", realm="r", nonce="n", uri="u", response="x"',
        'Digest =x, username="a", realm="r", nonce="n", uri="u", response="x"',
    ],
)
def test_malformed_credentials_are_400(value: str) -> None:
    with pytest.raises(MalformedCredentials) as info:
        parse_credentials(value)
    assert info.value.status_code == 400


def test_credentials_for_realm_picks_ours() -> None:
    ours = 'Digest username="a", realm="acme.test", nonce="n", uri="u", response="x"'
    theirs = 'Digest username="a", realm="proxy.example", nonce="n", uri="u", response="x"'
    assert credentials_for_realm(["garbage", theirs, ours], "acme.test") == ours
    assert credentials_for_realm([theirs], "acme.test") is None


def test_parse_challenge_errors() -> None:
    with pytest.raises(MalformedCredentials):
        parse_challenge('Basic realm="x"')
    with pytest.raises(MalformedCredentials):
        parse_challenge('Digest realm="x"')
    parsed = parse_challenge('Digest realm="x", nonce="y", qop="auth, auth-int", opaque="o"')
    assert parsed.qop_options == ("auth", "auth-int") and parsed.opaque == "o"


# --- fuzzing: only the declared error escapes --------------------------------------------

_VALID = (
    'Digest username="101", realm="acme.test", nonce="AAAA", uri="sip:102@acme.test",'
    ' response="0123", algorithm=MD5, qop=auth, nc=00000001, cnonce="x"'
)


def _verify_or_400(value: str) -> None:
    auth = DigestAuthenticator(SECRET)
    try:
        outcome = auth.verify(
            value, method="INVITE", request_uri=URI, realm=REALM, lookup_ha1=lookup, now=1.0
        )
    except MalformedCredentials as exc:
        assert isinstance(exc, SipError) and exc.status_code == 400
    else:
        assert outcome.result is AuthResult.FAILED


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_fuzz_arbitrary_text(value: str) -> None:
    _verify_or_400(value)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(_VALID)), st.integers(0, 12), st.text(max_size=8))
def test_fuzz_mutated_credentials(position: int, cut: int, insert: str) -> None:
    _verify_or_400(_VALID[:position] + insert + _VALID[position + cut :])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z\-]{1,8}", fullmatch=True), st.text(), max_size=8))
def test_fuzz_param_lists(params: dict[str, str]) -> None:
    rendered = ", ".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in params.items()
    )
    _verify_or_400("Digest " + rendered)
