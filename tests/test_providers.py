"""The provider registry, AI assistants and the CXML that routes calls to them."""

from __future__ import annotations

import base64
import hmac
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import CallRequest, Response, render, validate
from cxml.testing import assert_cxml_equal
from providers import (
    AIAssistant,
    AssistantUnavailableError,
    ConfigField,
    MediaBridge,
    Provider,
    ProviderConfigError,
    Registry,
    SignatureError,
    Signer,
    flatten_metadata,
    registry,
    sign,
    verify,
)

CALL = CallRequest.from_payload(
    {"CallSid": "CA42", "From": "+15551234567", "To": "+15559876543", "Direction": "inbound"}
)
SECRET = "bridge-secret-0123456789abcdef"
BRIDGE = MediaBridge("wss://pbx.example.com/media", SECRET)
OPBX_SIP = [
    "synthflow", "dasha", "superdash.ai", "ultravox", "elevenlabs", "deepvox", "relayhawk",
    "voicehub", "retell", "vapi", "fonio", "sigmamind", "modon", "puretalk", "millis-us",
    "millis-eu",
]  # fmt: skip


def _doc(assistant: AIAssistant, **kwargs: object) -> str:
    return render(Response([assistant.verb(CALL, **kwargs)]))  # type: ignore[arg-type]


# --- registry -------------------------------------------------------------------------------


def test_registry_holds_opbxs_providers_spelled_as_there() -> None:
    groups = registry.by_protocol()
    assert [p.key for p in groups["SIP"]] == OPBX_SIP
    assert [p.key for p in groups["WebSocket"]] == ["deepdub"]
    assert list(groups) == [
        "SIP", "WebSocket", "WebSocket endpoint", "SIP voice bot", "Built-in AI"
    ]  # fmt: skip
    for key in OPBX_SIP:
        (field,) = registry[key].fields
        assert (field.name, field.type, field.required) == ("phone_number", "tel", True)
    deepdub = registry["deepdub"]
    assert [f.name for f in deepdub.fields] == ["bot_id", "auth_token"]
    token = deepdub.field("auth_token")
    assert token is not None
    assert token.secret
    assert deepdub.url_template == (
        "wss://bot.deepdub.dev/ws/{bot_id}/{auth_token}?session={session}&from={from}&to={to}"
    )


def test_users_register_their_own_providers() -> None:
    mine = registry.copy()
    mine.register(Provider("acme", "Acme Voice", "sip", (ConfigField("phone_number", "tel"),)))
    assert "acme" in mine
    assert "acme" not in registry
    bot = AIAssistant("a", "acme", {"phone_number": "+14155550000"}, registry=mine)
    assert 'provider="acme"' in _doc(bot)
    phone = (ConfigField("phone_number", "tel"),)
    with pytest.raises(ValueError, match="already registered"):
        mine.register(Provider("acme", "Again", "sip", phone))
    mine.register(Provider("acme", "Again", "sip", phone), replace=True)
    assert mine["acme"].name == "Again"
    with pytest.raises(ValueError, match="key"):
        Provider("Bad Key", "x", "sip")
    with pytest.raises(ValueError, match="protocol"):
        Provider("ok", "x", "carrier-pigeon")  # type: ignore[arg-type]
    assert len(Registry()) == 0


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: Provider("p", "P", "sip"), "phone_number"),
        (lambda: Provider("p", "P", "sip_bot", (ConfigField("username"),)), "password"),
        (lambda: Provider("p", "P", "websocket"), "url_template"),
        (lambda: Provider("p", "P", "websocket", url_template="https://a.example/x"), "wss://"),
        (lambda: Provider("p", "P", "websocket", url_template="wss://a.example/{key}"), "{key}"),
        (lambda: Provider("p", "P", "websocket", url_template="wss://{session}.example/"), "host"),
    ],
)
def test_providers_are_checked_when_defined(make: object, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        make()  # type: ignore[operator]


# --- verbs per provider kind ----------------------------------------------------------------


@pytest.mark.parametrize("key", OPBX_SIP)
def test_sip_providers_dial_a_service(key: str) -> None:
    bot = AIAssistant("bot", key, {"phone_number": "+14155551234"})
    assert_cxml_equal(
        _doc(bot),
        f'<Response><Dial><Service provider="{key}">+14155551234</Service></Dial></Response>',
    )


def test_sip_metadata_becomes_x_headers_before_the_target() -> None:
    bot = AIAssistant("bot", "retell", {"phone_number": "+12127773456"})
    doc = _doc(
        bot,
        metadata={
            "key": "value",
            "X-Already": "1",
            "nested": {"child": True, "n": 5, "none": None},
        },
        action="https://pbx.example.com/alb?next=2&x=1",
    )
    assert_cxml_equal(
        doc,
        '<Response><Dial action="https://pbx.example.com/alb?next=2&amp;x=1">'
        '<Header name="X-key" value="value"/><Header name="X-Already" value="1"/>'
        '<Header name="X-nested.child" value="true"/><Header name="X-nested.n" value="5"/>'
        '<Header name="X-nested.none" value=""/>'
        '<Service provider="retell">+12127773456</Service></Dial></Response>',
    )
    assert validate(doc) == []


def test_metadata_keys_that_cannot_be_header_names_are_refused() -> None:
    bot = AIAssistant("bot", "retell", {"phone_number": "+12127773456"})
    with pytest.raises(ProviderConfigError) as info:
        bot.verb(CALL, metadata={"bad key": "x", "ok": "y", "a:b": "z"})
    assert set(info.value.problems) == {"bad key", "a:b"}


def test_deepdub_streams_to_its_rendered_url() -> None:
    bot = AIAssistant("dd", "deepdub", {"bot_id": "BOT", "auth_token": "TOKEN"})
    assert_cxml_equal(
        _doc(bot, metadata={"key": "value"}),
        '<Response><Connect><Stream url="wss://bot.deepdub.dev/ws/BOT/TOKEN?session=CA42&amp;'
        'from=%2B15551234567&amp;to=%2B15559876543"><Parameter name="key" value="value"/>'
        "</Stream></Connect></Response>",
    )
    assert "<Parameter" not in _doc(bot)


def test_sip_bot_server_and_client_modes() -> None:
    server = AIAssistant(
        "bot",
        "sip-bot",
        {
            "username": "u1",
            "password": "pw",
            "domain": "exten.bot",
            "sip_uri": "sip:openai@exten.bot",
        },
    )
    assert_cxml_equal(
        _doc(server),
        '<Response><Dial><Sip username="u1" password="pw">sip:openai@exten.bot</Sip></Dial>'
        "</Response>",
    )
    client = AIAssistant(
        "bot",
        "sip-bot",
        {"mode": "client", "username": "u1", "password": "pw", "domain": "pbx.example"},
    )
    assert_cxml_equal(
        _doc(client), "<Response><Dial><Sip>sip:u1@pbx.example</Sip></Dial></Response>"
    )


@pytest.mark.parametrize(
    ("provider", "config"),
    [
        ("websocket-endpoint", {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"}),
        ("builtin", {"engine_model": "openai.gpt-4o", "initial_prompt": "Be kind."}),
    ],
)
def test_bridge_served_assistants_stream_to_the_bridge_with_a_signed_ticket(
    provider: str, config: dict[str, object]
) -> None:
    bot = AIAssistant("helper", provider, config)
    verb = bot.verb(CALL, bridge=BRIDGE, metadata={"lang": "en"})
    doc = render(Response([verb]))
    assert '<Stream url="wss://pbx.example.com/media">' in doc
    assert '<Parameter name="lang" value="en"/>' in doc
    stream = verb.children[0]
    ticket = stream.children[0].value  # type: ignore[union-attr]
    admitted = BRIDGE.admit(ticket)
    assert (admitted.assistant, admitted.call_sid) == ("helper", "CA42")
    with pytest.raises(SignatureError):
        MediaBridge(BRIDGE.url, "another-secret-0123456789").admit(ticket)
    with pytest.raises(AssistantUnavailableError, match="bridge"):
        bot.verb(CALL)


def test_inactive_assistants_are_never_routed_to() -> None:
    bot = AIAssistant("bot", "vapi", {"phone_number": "+14155552222"}, status="inactive")
    assert not bot.active
    with pytest.raises(AssistantUnavailableError):
        bot.verb(CALL)


# --- configuration errors -------------------------------------------------------------------


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(ProviderConfigError) as info:
        AIAssistant("", "deepdub", {"bot_id": 7, "extra_thing": "x"}, status="paused")  # type: ignore[arg-type]
    assert dict(info.value.problems) == {
        "name": "must be non-empty text",
        "status": "must be active or inactive",
        "config.bot_id": "must be text, got int",
        "config.extra_thing": "is not a setting of deepdub",
        "config.auth_token": "is required",
    }


WS = {"websocket_url": "wss://a.example/x", "media": "pcm16"}
BOT = {"username": "u", "password": "p", "domain": "d"}
AI = {"engine_model": "openai.gpt-4o"}


@pytest.mark.parametrize(
    ("provider", "config", "field"),
    [
        ("retell", {"phone_number": "14155551234"}, "config.phone_number"),
        ("retell", {}, "config.phone_number"),
        ("nope", {}, "provider"),
        ("websocket-endpoint", {**WS, "websocket_url": "ws://a.example/x"}, "config.websocket_url"),
        ("websocket-endpoint", {**WS, "websocket_url": "wss://u:p@a/x"}, "config.websocket_url"),
        ("websocket-endpoint", {**WS, "media": "mp3"}, "config.media"),
        (
            "websocket-endpoint",
            {**WS, "websocket_headers": {"Bad H": "x"}},
            "config.websocket_headers",
        ),
        ("sip-bot", {**BOT, "mode": "peer"}, "config.mode"),
        ("sip-bot", {**BOT, "transfer_uri": "100"}, "config.transfer_uri"),
        ("builtin", {"engine_model": "gpt-4o"}, "config.engine_model"),
        ("builtin", {"engine_model": "madeup.gpt"}, "config.engine_model"),
        ("builtin", {**AI, "tts_type": "shout"}, "config.tts_type"),
        ("builtin", {**AI, "stt_language": "en_US!"}, "config.stt_language"),
        ("builtin", {**AI, "tool_names": ["all", "stop_flow"]}, "config.tool_names"),
        ("builtin", {**AI, "tool_names": ["teleport"]}, "config.tool_names"),
        ("builtin", {**AI, "init_prompt": "a", "initial_prompt": "b"}, "config.initial_prompt"),
    ],
)
def test_config_errors_name_the_field(provider: str, config: dict[str, object], field: str) -> None:
    with pytest.raises(ProviderConfigError) as info:
        AIAssistant("a", provider, config)
    assert field in info.value.problems
    assert info.value.code == "INVALID_PROVIDER_CONFIG"


def test_aliases_are_stored_under_the_canonical_name() -> None:
    bot = AIAssistant(
        "a", "builtin", {"engine_model": "openai.gpt-4o", "initial_prompt": "Hi", "voice": "v1"}
    )
    assert dict(bot.config) == {
        "engine_model": "openai.gpt-4o",
        "init_prompt": "Hi",
        "tts_voice_id": "v1",
    }


SECRETS = ("TOKEN-s3cr3t", "pw-s3cr3t", "Bearer hdr-s3cr3t", "key-s3cr3t")


def test_secrets_never_show() -> None:
    assistants = [
        AIAssistant("dd", "deepdub", {"bot_id": "BOT", "auth_token": SECRETS[0]}),
        AIAssistant("bot", "sip-bot", {"username": "u", "password": SECRETS[1], "domain": "d"}),
        AIAssistant(
            "ws",
            "websocket-endpoint",
            {
                "websocket_url": "wss://a.example/ws",
                "media": "pcm16",
                "websocket_headers": {"Authorization": SECRETS[2]},
            },
        ),
        AIAssistant("ai", "builtin", {"engine_model": "openai.gpt-4o", "engine_key": SECRETS[3]}),
    ]
    for bot in assistants:
        for text in (repr(bot), str(bot)):
            assert not any(secret in text for secret in SECRETS)
    assert "s3cr3t" not in repr(BRIDGE)
    assert SECRET not in repr(BRIDGE)
    # Bad values of secret fields are not echoed either.
    with pytest.raises(ProviderConfigError) as info:
        AIAssistant("dd", "deepdub", {"bot_id": "x", "auth_token": ["s3cr3t-in-a-list"]})
    assert "s3cr3t" not in str(info.value)


# --- signing and metadata -------------------------------------------------------------------


def test_tokens_expire_and_resist_tampering() -> None:
    token = sign({"a": "b"}, SECRET, ttl=60, now=1000)
    assert verify(token, SECRET, now=1059) == {"a": "b"}
    with pytest.raises(SignatureError, match="expired"):
        verify(token, SECRET, now=1061)
    head, mac = token.split(".")
    forged = sign({"a": "c"}, "another-secret-0123456789", ttl=60, now=1000).split(".")[0]
    for bad in (f"{forged}.{mac}", f"{head}.{mac[:-2]}AA", head, "", "a.b.c", "€.€"):
        with pytest.raises(SignatureError):
            verify(bad, SECRET, now=1000)
    with pytest.raises(SignatureError, match="16 bytes"):
        sign({}, "short", ttl=1)


@given(st.dictionaries(st.text(max_size=5).filter(lambda k: k != "exp"), st.text(max_size=20)))
def test_any_payload_round_trips(payload: dict[str, str]) -> None:
    assert verify(sign(payload, SECRET, ttl=10, now=0), SECRET, now=5) == payload


@given(st.binary(min_size=16, max_size=200), st.binary(max_size=300))
def test_signer_mac_is_hmac_sha256(key: bytes, message: bytes) -> None:
    assert Signer(key).mac(message) == hmac.new(key, message, "sha256").digest()


@given(
    st.dictionaries(st.text(max_size=5).filter(lambda k: k != "exp"), st.text(max_size=20)),
    st.integers(min_value=0, max_value=2**40),
)
def test_a_token_is_base64url_json_dot_base64url_hmac(payload: dict[str, str], now: int) -> None:
    # The format, written here with the standard library alone: tokens must not change
    # between versions (callbacks in flight would break).
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    body = json.dumps({**payload, "exp": now + 10}, separators=(",", ":")).encode()
    mac = hmac.new(SECRET.encode(), b64(body).encode(), "sha256").digest()
    assert sign(payload, SECRET, ttl=10, now=now) == f"{b64(body)}.{b64(mac)}"


@given(st.text(max_size=200))
def test_verify_raises_only_signature_errors(token: str) -> None:
    with pytest.raises(SignatureError):
        verify(token, SECRET, now=0)


def test_flatten_metadata() -> None:
    assert flatten_metadata(
        {"nested": {"child": "x"}, "flag": True, "n": 5, "gone": None, "tags": ["a", "é"]}
    ) == [
        ("nested.child", "x"), ("flag", "true"), ("n", "5"), ("gone", ""), ("tags", '["a", "é"]')
    ]  # fmt: skip


def test_metadata_cannot_forge_a_ticket_or_repeat_a_header() -> None:
    bot = AIAssistant("helper", "builtin", {"engine_model": "openai.gpt-4o"})
    with pytest.raises(ProviderConfigError, match="reserved"):
        bot.verb(CALL, bridge=BRIDGE, metadata={"cxmlflow-ticket": "forged"})
    sip = AIAssistant("bot", "retell", {"phone_number": "+12127773456"})
    with pytest.raises(ProviderConfigError) as info:
        sip.verb(CALL, metadata={"tenant": "a", "X-tenant": "b"})
    assert set(info.value.problems) == {"X-tenant"}


def test_configuration_is_frozen_all_the_way_down() -> None:
    headers = {"Authorization": "Bearer x"}
    bot = AIAssistant(
        "ws", "websocket-endpoint",
        {"websocket_url": "wss://a.example/ws", "media": "pcm16", "websocket_headers": headers},
    )  # fmt: skip
    headers["Bad Name"] = "x"
    assert dict(bot.config["websocket_headers"]) == {"Authorization": "Bearer x"}
    with pytest.raises(TypeError):
        bot.config["websocket_headers"]["X"] = "y"


def test_anonymous_callers_reach_template_providers() -> None:
    bot = AIAssistant("dd", "deepdub", {"bot_id": "BOT", "auth_token": "TOKEN"})
    anonymous = CallRequest.from_payload({"CallSid": "CA1"})
    assert "from=&amp;to=" in render(Response([bot.verb(anonymous)]))


def test_a_token_signed_with_the_bridge_secret_that_is_no_ticket_is_refused() -> None:
    state = sign({"k": "ivr", "c": "CA42"}, BRIDGE.secret, ttl=60)  # e.g. a router's state
    with pytest.raises(SignatureError, match="not a media ticket"):
        BRIDGE.admit(state)


@pytest.mark.parametrize("secret", [64, 2**20, None, 3.5, ["0123456789abcdef"]])
def test_a_secret_is_text_or_bytes(secret: object) -> None:
    # bytes(64) is 64 zero bytes: an int must not pass for a secret.
    with pytest.raises(SignatureError):
        Signer(secret)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        sign({"a": 1}, secret, ttl=60)  # type: ignore[arg-type]
