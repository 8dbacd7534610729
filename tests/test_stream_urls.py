"""Stream URL templates: OPBX's test vectors, and hostile values that must stay in place."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import StreamUrlError, render_stream_url

DEEPDUB = "wss://bot.deepdub.dev/ws/{bot_id}/{auth_token}?session={session}&from={from}&to={to}"
W1_VALUES = {
    "bot_id": "7Fn5qL8LCMkENwdrh9bhoW",
    "auth_token": "cloudonix-abc123",
    "session": "002a426a74e34c66b436f0e69764b142",
    "from": "1004",
    "to": "50000",
}


def test_w1_deepdub_template() -> None:
    assert render_stream_url(DEEPDUB, W1_VALUES) == (
        "wss://bot.deepdub.dev/ws/7Fn5qL8LCMkENwdrh9bhoW/cloudonix-abc123"
        "?session=002a426a74e34c66b436f0e69764b142&from=1004&to=50000"
    )


def test_w2_plus_is_encoded() -> None:
    assert "from=%2B15551234567" in render_stream_url(
        DEEPDUB, {**W1_VALUES, "from": "+15551234567"}
    )


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(" ", "%20"), ("&", "%26"), ("=", "%3D"), ("/", "%2F"), ("+", "%2B"), ("?", "%3F"),
     ("#", "%23"), ("@", "%40"), ("%", "%25"), ("é", "%C3%A9"), ("../x", "..%2Fx")],
)  # fmt: skip
def test_w3_every_special_character_is_encoded(value: str, encoded: str) -> None:
    url = render_stream_url(DEEPDUB, {**W1_VALUES, "bot_id": f"a{value}b"})
    assert f"/ws/a{encoded}b/" in url


@pytest.mark.parametrize("template", ["ws://a.example/{bot_id}", "https://a.example/{bot_id}"])
def test_w4_only_wss(template: str) -> None:
    with pytest.raises(StreamUrlError, match="wss://"):
        render_stream_url(template, {"bot_id": "x"})


def test_w5_disallowed_placeholder() -> None:
    with pytest.raises(StreamUrlError, match=r"Disallowed placeholder: \{malicious\}"):
        render_stream_url("wss://a.example/{malicious}", {"malicious": "x"})


def test_w6_missing_value() -> None:
    with pytest.raises(StreamUrlError, match=r"unsubstituted placeholder: \{auth_token\}"):
        render_stream_url(DEEPDUB, {k: v for k, v in W1_VALUES.items() if k != "auth_token"})


def test_w7_numbers_and_w8_empty_strings() -> None:
    url = render_stream_url(DEEPDUB, {**W1_VALUES, "to": 50000, "from": ""})
    assert url.endswith("&from=&to=50000")


@pytest.mark.parametrize("value", [True, 1.5, None, ["x"], {"a": 1}])
def test_values_must_be_text_or_whole_numbers(value: object) -> None:
    with pytest.raises(StreamUrlError):
        render_stream_url(DEEPDUB, {**W1_VALUES, "bot_id": value})


@pytest.mark.parametrize("value", [".", "..", "..."])
def test_dot_segments_are_refused(value: str) -> None:
    with pytest.raises(StreamUrlError, match="dot segment"):
        render_stream_url(DEEPDUB, {**W1_VALUES, "bot_id": value})


@pytest.mark.parametrize(
    "template",
    ["wss://{bot_id}.example.com/ws", "wss://a.example.com:{bot_id}/ws", "wss://{bot_id}/x"],
)
def test_the_host_is_fixed_by_the_template(template: str) -> None:
    with pytest.raises(StreamUrlError):
        render_stream_url(template, {"bot_id": "evil.com"})


def test_malformed_placeholders_are_refused() -> None:
    with pytest.raises(StreamUrlError):
        render_stream_url("wss://a.example/{Bot_Id}", {"Bot_Id": "x"})


def test_custom_allow_list() -> None:
    assert render_stream_url("wss://a.example/{agent}", {"agent": "x y"}, allowed={"agent"}) == (
        "wss://a.example/x%20y"
    )
    with pytest.raises(StreamUrlError):
        render_stream_url("wss://a.example/{bot_id}", {"bot_id": "x"}, allowed={"agent"})


def test_messages_never_show_values() -> None:
    with pytest.raises(StreamUrlError) as info:
        render_stream_url(DEEPDUB, {**W1_VALUES, "auth_token": ["s3cr3t-token"]})
    assert "s3cr3t" not in str(info.value)
    assert "{auth_token}" in str(info.value)


hostile = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30
) | st.sampled_from(["../..", "/admin", "@evil.com", "?x=1#y", "%2e%2e", "a&to=+1", "\\evil"])


@given(bot_id=hostile, auth_token=hostile, session=hostile, caller=hostile, callee=hostile)
def test_each_value_stays_in_its_component(
    bot_id: str, auth_token: str, session: str, caller: str, callee: str
) -> None:
    values = {"bot_id": bot_id, "auth_token": auth_token, "session": session, "from": caller,
              "to": callee}  # fmt: skip
    try:
        url = render_stream_url(DEEPDUB, values)
    except StreamUrlError:
        assert any(v and set(v) == {"."} for v in values.values())
        return
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == ("wss", "bot.deepdub.dev", None)
    segments = parts.path.split("/")
    assert len(segments) == 4
    assert [unquote(s) for s in segments[2:]] == [bot_id, auth_token]
    assert parse_qsl(parts.query, keep_blank_values=True) == [
        ("session", session), ("from", caller), ("to", callee)
    ]  # fmt: skip
    assert not parts.fragment


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_template_with_an_impossible_port_is_our_error(port: str) -> None:
    with pytest.raises(StreamUrlError, match="port"):
        render_stream_url(f"wss://h:{port}/{{session}}", {"session": "CA1"})


def test_a_template_checked_once_still_refuses_each_bad_value() -> None:
    template = "wss://h.example/{session}"
    assert render_stream_url(template, {"session": "CA1"}) == "wss://h.example/CA1"
    with pytest.raises(StreamUrlError, match="dot segment"):
        render_stream_url(template, {"session": ".."})
    with pytest.raises(StreamUrlError, match="unsubstituted"):
        render_stream_url(template, {})


def test_a_lone_surrogate_is_our_error_naming_the_placeholder() -> None:
    with pytest.raises(StreamUrlError, match=r"\{session\} is not valid Unicode"):
        render_stream_url(DEEPDUB, {**W1_VALUES, "session": "CA\udc80"})


#: Any text at all: surrogates drawn on their own (st.text would merge them away).
any_text = st.lists(st.characters(codec=None) | st.characters(categories=["Cs"]), max_size=20).map(
    "".join
)


@given(session=any_text, caller=any_text)
def test_any_text_renders_or_is_our_error(session: str, caller: str) -> None:
    values = {**W1_VALUES, "session": session, "from": caller}
    try:
        url = render_stream_url(DEEPDUB, values)
    except StreamUrlError as exc:
        surrogate = any("\ud800" <= c <= "\udfff" for c in session + caller)
        assert surrogate or any(v and set(v) == {"."} for v in (session, caller))
        assert exc.code == 11100
        return
    assert parse_qsl(urlsplit(url).query, keep_blank_values=True)[:2] == [
        ("session", session),
        ("from", caller),
    ]
