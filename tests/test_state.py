"""State stores: one behaviour suite run against MemoryStore and a real Redis server.

The Redis tests start their own ``redis-server`` on 127.0.0.1 and a free port. Without the
binary they are skipped locally and fail in CI (``CI=true``, ``CI=1``; see `tests.ci`), where it
is installed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxml import CallRequest, CxmlError, Dial, Number, Response, Service, render, validate
from flows import Conversations
from flows.routing import Router, load_pbx
from flows.routing._state import MemoryStore, RedisStore, StateStore, StateStoreError
from providers import AIAssistant, Message, Reply, ScriptedEngine
from tests.ci import running_in_ci
from tests.loopback import free_port, stop_process
from tests.redis_server import (
    redis_client,
    require_redis_py,
    start_redis,
    unavailable,
)

if TYPE_CHECKING:
    pass

TTL = 1.0  # Redis expiry has millisecond precision; one second keeps the waits short
PAST_TTL = TTL + 0.15


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes", "True "])
def test_a_missing_redis_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """CI services set CI=true and .ci/run sets CI=1: both must turn a skip into a failure."""
    monkeypatch.setenv("CI", value)
    assert running_in_ci()
    with pytest.raises(pytest.fail.Exception, match="broken CI setup"):
        unavailable("no redis-server binary on PATH")


@pytest.mark.parametrize("value", [None, "", "0", "false", "no"])
def test_a_missing_redis_skips_outside_ci(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not running_in_ci()
    with pytest.raises(pytest.skip.Exception, match="CI runs them"):
        unavailable("no redis-server binary on PATH")


def test_the_ci_script_sets_ci_before_it_runs_the_tests() -> None:
    script = (Path(__file__).parent.parent / ".ci" / "run").read_text().splitlines()
    exported = script.index('export CI="${CI:-1}"')
    assert exported < script.index("python -m pytest")
    # and nothing after it sets CI again
    assert not [line for line in script[exported + 1 :] if "CI=" in line]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@attrs.frozen
class Backend:
    """A store under test and how to let time pass for it."""

    name: str
    store: StateStore
    elapse: Callable[[float], None]


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        clock = FakeClock()
        return Backend("memory", MemoryStore(clock=clock), clock.advance)
    store: RedisStore = request.getfixturevalue("redis_store")
    return Backend("redis", store, time.sleep)


# --- the behaviour suite ----------------------------------------------------------------------


def test_is_a_state_store(backend: Backend) -> None:
    assert isinstance(backend.store, StateStore)


def test_incr_counts_from_one_per_key(backend: Backend) -> None:
    store = backend.store
    assert [store.incr("rr") for _ in range(5)] == [1, 2, 3, 4, 5]
    assert store.incr("other") == 1
    assert store.get("rr") == "5"  # a counter reads as its decimal text
    store.delete("rr")
    assert store.incr("rr") == 1
    store.set("counter", "41")  # a string holding an integer counts on
    assert store.incr("counter") == 42


def test_incr_is_atomic_across_threads(backend: Backend) -> None:
    threads, rounds = 8, 200
    start = threading.Barrier(threads)

    def work() -> list[int]:
        start.wait(timeout=10)
        return [backend.store.incr("shared") for _ in range(rounds)]

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(work) for _ in range(threads)]
        seen = [n for future in futures for n in future.result(timeout=60)]
    assert sorted(seen) == list(range(1, threads * rounds + 1))  # no value handed out twice
    assert backend.store.get("shared") == str(threads * rounds)


def test_get_set_delete(backend: Backend) -> None:
    store = backend.store
    assert store.get("session") is None
    store.set("session", "first")
    assert store.get("session") == "first"
    store.set("session", "Grüße ☎ \n\x00 end")  # any text, byte-exact round trip
    assert store.get("session") == "Grüße ☎ \n\x00 end"
    store.set("empty", "")
    assert store.get("empty") == ""
    store.delete("session")
    assert store.get("session") is None
    store.delete("session")  # deleting a missing key is fine
    store.delete("never-there")


def test_ttl_expires_every_kind_of_key(backend: Backend) -> None:
    store = backend.store
    store.incr("counter", ttl=TTL)
    store.set("string", "v", ttl=TTL)
    store.incr("kept", ttl=TTL)
    store.incr("kept")  # an incr without ttl keeps the expiry
    store.set("replaced", "old", ttl=TTL)
    store.set("replaced", "new")  # set replaces value and expiry, like Redis SET
    store.incr("forever")
    assert store.get("counter") == "1"
    assert store.get("kept") == "2"
    backend.elapse(PAST_TTL)
    assert store.get("counter") is None
    assert store.incr("counter") == 1  # an expired counter starts again
    assert store.get("string") is None
    assert store.get("kept") is None
    assert store.get("replaced") == "new"
    assert store.get("forever") == "1"


def test_ttl_restarts_at_every_write_that_passes_one(backend: Backend) -> None:
    store = backend.store
    store.incr("cursor", ttl=TTL)
    store.set("session", "a", ttl=TTL)
    backend.elapse(TTL * 0.6)
    store.incr("cursor", ttl=TTL)
    store.set("session", "b", ttl=TTL)
    backend.elapse(TTL * 0.6)  # 1.2 TTL after the first write, 0.6 after the last
    assert store.get("cursor") == "2"
    assert store.get("session") == "b"
    backend.elapse(TTL * 0.6)
    assert store.get("cursor") is None
    assert store.get("session") is None


@pytest.mark.parametrize("ttl", [0, -1.0, float("nan"), float("inf")])
def test_ttl_must_be_positive(backend: Backend, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl must be a positive number of seconds"):
        backend.store.incr("k", ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        backend.store.set("k", "v", ttl=ttl)
    assert backend.store.get("k") is None  # nothing written


def test_incr_of_a_string_that_is_not_a_counter_is_a_state_store_error(backend: Backend) -> None:
    store = backend.store
    store.set("text", "not a number")
    store.set("padded", "007")
    store.set("too-big", str(2**64))
    for key in ("text", "padded", "too-big"):
        with pytest.raises(StateStoreError) as caught:
            store.incr(key)
        assert caught.value.message == f"state key {key!r} does not hold a 64-bit integer"
        assert caught.value.code == "STATE_STORE_ERROR"
        assert isinstance(caught.value, CxmlError)
    store.set("text", "7")  # set replaces whatever was there
    assert store.incr("text") == 8


def test_counter_overflow(backend: Backend) -> None:
    backend.store.set("big", str(2**63 - 1))
    with pytest.raises(StateStoreError):
        backend.store.incr("big")
    assert backend.store.get("big") == str(2**63 - 1)


# --- MemoryStore only -------------------------------------------------------------------------


def test_memory_expiry_is_exact_on_the_clock() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    store.set("k", "v", ttl=10)
    clock.advance(9.999)
    assert store.get("k") == "v"
    clock.advance(0.001)
    assert store.get("k") is None


def test_memory_sweeps_expired_keys_nobody_reads() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    for call in range(300):
        store.set(f"conversation:{call}", "{}", ttl=60)
    clock.advance(61)
    for call in range(300):
        store.set(f"live:{call}", "x")
    assert repr(store) == "MemoryStore(keys=300)"


def test_memory_store_default_clock_is_monotonic() -> None:
    store = MemoryStore()
    store.set("k", "v", ttl=3600)
    assert store.get("k") == "v"


# --- RedisStore only --------------------------------------------------------------------------


def test_redis_keys_carry_the_prefix_and_the_ttl(redis_port: int) -> None:
    client = redis_client(redis_port)
    try:
        store = RedisStore(client)
        assert store.prefix == "cxmlflow:"
        name = f"k{uuid.uuid4().hex}"
        store.incr(name, ttl=TTL)
        assert client.get(f"cxmlflow:{name}") == b"1"
        # INCR and PEXPIRE ran in one transaction: the key never exists without its expiry.
        assert 0 < int(client.pttl(f"cxmlflow:{name}")) <= 1000
        store.set(name + "s", "m", ttl=30)
        assert 29_000 < int(client.pttl(f"cxmlflow:{name}s")) <= 30_000
        store.delete(name)
        store.delete(name + "s")
        assert client.exists(f"cxmlflow:{name}", f"cxmlflow:{name}s") == 0
    finally:
        client.close()


def test_redis_prefixes_isolate_stores_on_one_server(redis_port: int) -> None:
    client = redis_client(redis_port)
    tag = uuid.uuid4().hex
    try:
        one, two = RedisStore(client, prefix=f"a{tag}:"), RedisStore(client, prefix=f"b{tag}:")
        assert one.incr("rr") == 1
        assert one.incr("rr") == 2
        assert two.incr("rr") == 1
        one.set("session", "one")
        assert two.get("session") is None
        two.delete("session")
        assert one.get("session") == "one"
    finally:
        client.close()


def test_redis_store_decodes_either_way(redis_port: int) -> None:
    client = redis_client(redis_port, decode_responses=True)
    try:
        store = RedisStore(client, prefix=f"d{uuid.uuid4().hex}:")
        store.set("s", "Grüße")
        assert store.get("s") == "Grüße"
        assert store.incr("c") == 1
    finally:
        client.close()


def test_redis_key_of_another_type_is_a_state_store_error(redis_port: int) -> None:
    """Something else sharing the server wrote a list where the store expects a string."""
    client = redis_client(redis_port)
    try:
        store = RedisStore(client, prefix=f"w{uuid.uuid4().hex}:")
        client.rpush(f"{store.prefix}list", "a")
        for attempt in (lambda: store.incr("list"), lambda: store.get("list")):
            with pytest.raises(StateStoreError) as caught:
                attempt()
            assert caught.value.message == "state key 'list' holds another kind of value"
        store.set("list", "replaced")  # SET replaces a key of any type, as Redis does
        assert store.get("list") == "replaced"
    finally:
        client.close()


def test_redis_from_url(redis_port: int) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{redis_port}/0", prefix=f"u{uuid.uuid4()}:")
    try:
        assert store.incr("n") == 1
        assert store.client.get(f"{store.prefix}n") == b"1"
    finally:
        store.client.close()


def test_redis_unreachable_is_a_state_store_error() -> None:
    require_redis_py()
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    closed = free_port()  # nothing listens there once the probe socket is closed
    store = RedisStore.from_url(
        f"redis://:hunter2-secret@127.0.0.1:{closed}/0", retry=Retry(NoBackoff(), 0)
    )
    try:
        for attempt in (
            lambda: store.incr("rr"),
            lambda: store.incr("rr", ttl=5),
            lambda: store.get("k"),
            lambda: store.set("k", "v", ttl=5),
            lambda: store.delete("k"),
        ):
            with pytest.raises(StateStoreError) as caught:
                attempt()
            assert not isinstance(caught.value, redis.RedisError)
            assert isinstance(caught.value.__cause__, redis.ConnectionError)
            assert caught.value.code == "STATE_STORE_ERROR"
            assert "hunter2" not in str(caught.value)
        assert "hunter2" not in repr(store)
    finally:
        store.client.close()


# --- the two stores agree ---------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c"])
OPERATIONS = st.lists(
    st.tuples(st.just("incr"), KEYS, st.none())
    | st.tuples(st.just("get"), KEYS, st.none())
    | st.tuples(
        st.just("set"), KEYS, st.sampled_from(["1", "-7", "07", "-0", " 1", "+1", "word", ""])
    )
    | st.tuples(st.just("delete"), KEYS, st.none()),
    max_size=25,
)


def _run(store: StateStore, operations: list[tuple[str, str, str | None]]) -> list[object]:
    results: list[object] = []
    for operation, key, argument in operations:
        result: object = None
        try:
            if operation == "incr":
                result = store.incr(key)
            elif operation == "get":
                result = store.get(key)
            elif operation == "set":
                store.set(key, argument or "")
            else:
                store.delete(key)
        except StateStoreError as error:
            result = error.message
        results.append((operation, key, result))
    return results


@settings(max_examples=60)
@given(OPERATIONS)
def test_memory_and_redis_agree(
    redis_port: int, operations: list[tuple[str, str, str | None]]
) -> None:
    client = redis_client(redis_port)
    try:
        redis_store = RedisStore(client, prefix=f"h{uuid.uuid4().hex}:")
        assert _run(MemoryStore(), operations) == _run(redis_store, operations)
    finally:
        client.close()


# --- routers sharing a RedisStore -------------------------------------------------------------

#: A PBX with a round-robin ring group and a round-robin load balancer that follows through.
SHARED_PBX: dict[str, object] = {
    "dids": {
        "+15550000103": {"destination": "ring_group/rotate"},
        "+15550000501": {"destination": "ai_load_balancer/rr"},
    },
    "extensions": {"1001": {}, "1002": {}, "1003": {"status": "inactive"}, "1004": {}},
    "ring_groups": {
        "rotate": {
            "strategy": "round_robin",
            "timeout": 25,
            "members": ["1001", "1002", "1003", "1004"],
            "fallback": "hangup",
        }
    },
    "ai_assistants": {
        "receptionist": {"provider": "retell", "config": {"phone_number": "+14155551234"}},
        "support": {"provider": "vapi", "config": {"phone_number": "+14155552222"}},
        "sales_bot": {"provider": "synthflow", "config": {"phone_number": "+14155553333"}},
    },
    "ai_load_balancers": {
        "rr": {
            "strategy": "round_robin",
            "follow_through": True,
            "members": ["receptionist", "support", "sales_bot"],
        }
    },
}
BY_PROVIDER = {"retell": "receptionist", "vapi": "support", "synthflow": "sales_bot"}
NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC)


def _routers(stores: list[StateStore]) -> list[Router]:
    """One Router per store, as separate processes would build them: same PBX and secret."""
    return [
        Router(
            load_pbx(SHARED_PBX),
            base_url="https://pbx.example.com/voice",
            secret="shared-secret-of-every-process",
            store=store,
            clock=lambda: NOON,
        )
        for store in stores
    ]


def _handle(router: Router, fields: dict[str, str], url: str | None = None) -> Response:
    doc = router.handle(CallRequest.from_payload(fields, url=url))
    assert validate(doc) == [], render(doc)
    return doc


def _rung(doc: Response) -> tuple[str, str | None]:
    """The one number a ring-group attempt dials, and its callback."""
    (dial,) = doc.children
    assert isinstance(dial, Dial), render(doc)
    (number,) = dial.children
    assert isinstance(number, Number)
    assert isinstance(number.text, str)
    return number.text, dial.action


def _assistant(doc: Response) -> tuple[str, str | None]:
    """The assistant a balancer's document dials, and its callback."""
    (dial,) = doc.children
    assert isinstance(dial, Dial), render(doc)
    (service,) = dial.children
    assert isinstance(service, Service)
    assert service.provider is not None
    return BY_PROVIDER[service.provider], dial.action


def _ring_group_orders(routers: list[Router], calls: int) -> list[list[str]]:
    """The order each call rings the group in: call i starts on router i % 2 and every
    callback goes to the other router than the request before it."""
    orders = []
    for i in range(calls):
        fields = {"CallSid": f"CA-rr-{i}", "From": "+12125551234", "To": "+15550000103"}
        turn = i
        rung, action = _rung(_handle(routers[turn % 2], fields))
        order = [rung]
        while action is not None:
            turn += 1
            doc = _handle(routers[turn % 2], {**fields, "DialCallStatus": "no-answer"}, action)
            if doc.children and isinstance(doc.children[0], Dial):
                rung, action = _rung(doc)
                order.append(rung)
            else:
                assert render(doc).endswith("<Hangup/></Response>")  # the fallback
                action = None
        orders.append(order)
    return orders


def _balancer_picks(routers: list[Router], calls: int) -> list[list[str]]:
    picks = []
    for i in range(calls):
        fields = {"CallSid": f"CA-alb-{i}", "From": "+12125551234", "To": "+15550000501"}
        turn = i
        name, action = _assistant(_handle(routers[turn % 2], fields))
        tried = [name]
        while action is not None:
            turn += 1
            doc = _handle(routers[turn % 2], {**fields, "DialCallStatus": "busy"}, action)
            if isinstance(doc.children[0], Dial):
                name, action = _assistant(doc)
                tried.append(name)
            else:
                action = None
        picks.append(tried)
    return picks


def test_two_routers_on_one_redis_store_share_the_round_robin(redis_port: int) -> None:
    """Two processes (two Routers, each with its own Redis connection) serve calls in turn; the
    rotation is one shared cursor, so every call starts one member further on, whichever
    router takes it, and every callback is continued by the other router."""
    prefix = f"routers:{uuid.uuid4().hex}:"
    clients = [redis_client(redis_port), redis_client(redis_port)]
    try:
        routers = _routers([RedisStore(client, prefix=prefix) for client in clients])
        # 1003 is inactive: three members rotate, each call ringing all three once.
        assert _ring_group_orders(routers, 4) == [
            ["1001", "1002", "1004"],
            ["1002", "1004", "1001"],
            ["1004", "1001", "1002"],
            ["1001", "1002", "1004"],
        ]
        members = ["receptionist", "support", "sales_bot"]
        assert _balancer_picks(routers, 4) == [members[i:] + members[:i] for i in (0, 1, 2, 0)]
        # the cursors live in Redis: one increment per call
        keys: list[bytes | str] = clients[0].keys(f"{prefix}*")
        assert sorted(clients[0].get(key) or b"" for key in keys) == [b"4", b"4"]
    finally:
        for client in clients:
            client.close()


def test_routers_with_stores_of_their_own_do_not_share_the_rotation() -> None:
    """The positive control: the same alternation over two MemoryStores (two processes without
    Redis) repeats members, which the shared store prevents."""
    orders = _ring_group_orders(_routers([MemoryStore(), MemoryStore()]), 4)
    assert [order[0] for order in orders] == ["1001", "1001", "1002", "1002"]


def test_concurrent_calls_on_two_routers_share_the_rotation_exactly(redis_port: int) -> None:
    """Calls arriving at once on both routers still take the turns one by one: over 3 x 20
    calls each member is the first rung exactly 20 times."""
    prefix = f"routers:{uuid.uuid4().hex}:"
    clients = [redis_client(redis_port), redis_client(redis_port)]
    try:
        routers = _routers([RedisStore(client, prefix=prefix) for client in clients])
        start = threading.Barrier(2)

        def serve(which: int) -> list[str]:
            start.wait(timeout=10)
            firsts = []
            for i in range(30):
                fields = {"CallSid": f"CA{which}-{i}", "From": "+12125551234", "To": "+15550000103"}
                firsts.append(_rung(_handle(routers[which], fields))[0])
            return firsts

        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(serve, which) for which in (0, 1)]
            firsts = [name for future in futures for name in future.result(timeout=60)]
        assert Counter(firsts) == {"1001": 20, "1002": 20, "1004": 20}
    finally:
        for client in clients:
            client.close()


def _first_rung(router: Router, call: str) -> str:
    fields = {"CallSid": call, "From": "+12125551234", "To": "+15550000103"}
    return _rung(_handle(router, fields))[0]


def _store_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "state store" in r.getMessage()]


def test_a_redis_outage_is_logged_once_and_spreads_the_picks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A redis-server stopped mid-run: the router logs the outage once (not once per call),
    picks members at random rather than always the first, and logs the recovery once when a
    server answers on the same port again."""
    caplog.set_level("INFO", logger="flows.routing")
    process, port = start_redis(tmp_path)
    client = redis_client(port, socket_timeout=2, socket_connect_timeout=2)
    try:
        (router,) = _routers([RedisStore(client, prefix="outage:")])
        assert [_first_rung(router, f"CA-up-{i}") for i in range(3)] == ["1001", "1002", "1004"]
        assert _store_records(caplog) == []

        stop_process(process)
        during = [_first_rung(router, f"CA-down-{i}") for i in range(60)]
        (failing,) = _store_records(caplog)
        assert failing.startswith("state store failing")
        assert "STATE_STORE_ERROR" in failing
        # Random turns: 60 calls over three members all on one would be a 3 ** -59 chance.
        assert set(during) == {"1001", "1002", "1004"}

        process, _ = start_redis(tmp_path, port)  # the same server address comes back
        after = [_first_rung(router, f"CA-back-{i}") for i in range(3)]
        assert after == ["1001", "1002", "1004"]  # an empty server: the rotation starts over
        assert _store_records(caplog) == [failing, "state store answers again; "
                                          "round-robin picks take turns again"]  # fmt: skip
    finally:
        client.close()
        stop_process(process)


def test_a_redis_client_without_socket_timeouts_is_refused() -> None:
    require_redis_py()
    import redis

    for options in ({"socket_timeout": None}, {"socket_timeout": None,
                                               "socket_connect_timeout": None}):  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=free_port(), **options)  # type: ignore[arg-type]
        with pytest.raises(StateStoreError) as caught:
            RedisStore(client)
        assert caught.value.code == "NO_SOCKET_TIMEOUT"
        assert "socket_timeout" in caught.value.message
        client.close()
    with pytest.raises(StateStoreError, match=r"not a redis\.Redis"):
        RedisStore(object())  # type: ignore[arg-type]


def test_a_stalled_redis_server_delays_routing_by_the_timeout_not_forever() -> None:
    """A server that accepts and never answers: the store's timeout turns it into a
    StateStoreError, and the router routes the call anyway."""
    with socket.socket() as stalled:
        stalled.bind(("127.0.0.1", 0))
        stalled.listen()
        port = stalled.getsockname()[1]
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=0.2)
        try:
            with pytest.raises(StateStoreError):
                store.incr("rr")
            (router,) = _routers([store])
            assert _first_rung(router, "CA-stalled") in {"1001", "1002", "1004"}
        finally:
            store.client.close()


# --- conversation sessions in the store -------------------------------------------------------

CHAT_FLOW = [
    {"type": "ai_talk", "option": {"initial_prompt": "You are a florist.", "assistance_id": "bot"}}
]
BOT = AIAssistant(
    "bot", "builtin", {"engine_model": "openai.gpt-4o", "tool_names": ["set_variables"]}
)


def _chats(store: StateStore, script: list[Any], **options: Any) -> Conversations:
    """One process's Conversations: its own engine, the shared store."""
    return Conversations(
        CHAT_FLOW, engine=ScriptedEngine(script), assistants={"bot": BOT}, store=store, **options
    )


def test_a_second_process_continues_a_conversation(backend: Backend) -> None:
    """Two Conversations on one store (two processes on one Redis): the second answers the
    conversation's next message in the same session, with the whole context, tool calls too."""
    asked = {"text": "Noted.", "tool_calls": [
        {"name": "set_variables", "arguments": {"variables": {"flower": "rose"}}, "id": "t1"}
    ]}  # fmt: skip
    one = _chats(backend.store, ["Roses or tulips?", asked, "Anything else?"])
    two_engine = ScriptedEngine(["Red ones, then."])
    two = Conversations(CHAT_FLOW, engine=two_engine, assistants={"bot": BOT}, store=backend.store)

    async def main() -> None:
        first = await one.receive("+15550001111", "I need flowers")
        second = await one.receive("+15550001111", "Roses")
        third = await two.receive("+15550001111", "Red")
        assert (first.reply, third.reply) == ("Roses or tulips?", "Red ones, then.")
        assert first.session == second.session == third.session
        # what the second process's engine was shown: everything the first one said and did
        shown = two_engine.seen[-1]
        assert [(m.role, m.content) for m in shown] == [
            ("system", "You are a florist."),
            ("user", "I need flowers"),
            ("assistant", "Roses or tulips?"),
            ("user", "Roses"),
            ("assistant", "Noted."),
            ("tool", shown[5].content),
            ("assistant", "Anything else?"),
            ("user", "Red"),
        ]
        assert shown[4].tool_calls[0].arguments == {"variables": {"flower": "rose"}}
        assert shown[5].tool_call_id == "t1"
        assert one.messages("+15550001111") == two.messages("+15550001111")
        assert one.messages("+15550001111")[-1].content == "Red ones, then."

    asyncio.run(main())


def test_a_message_to_one_process_supersedes_a_reply_another_is_making(backend: Backend) -> None:
    class Gated:
        def __init__(self) -> None:
            self.gate = asyncio.Event()

        async def reply(self, messages: Sequence[Message], tools: Sequence[Any]) -> Reply:
            await self.gate.wait()
            return Reply(f"answer to {messages[-1].content}")

    slow = Gated()
    one = Conversations(CHAT_FLOW, engine=slow, assistants={"bot": BOT}, store=backend.store)
    two = _chats(backend.store, ["the latest answer"])

    async def main() -> None:
        earlier = asyncio.create_task(one.receive("c1", "one"))
        while backend.store.get("conversation:c1:messages") != "1":
            await asyncio.sleep(0)
        latest = await two.receive("c1", "two")
        slow.gate.set()
        dropped = await earlier
        assert (dropped.reply, dropped.superseded) == (None, True)
        assert latest.reply == "the latest answer"
        assert [m.content for m in one.messages("c1")][1:] == ["one", "two", "the latest answer"]

    asyncio.run(main())


def test_a_session_ends_in_the_store_after_its_idle_timeout(backend: Backend) -> None:
    """The store forgets an idle session by itself (its ttl is the idle timeout)."""
    chats = _chats(backend.store, ["Hello"], idle_timeout=dt.timedelta(seconds=TTL))

    async def main() -> None:
        await chats.receive("c1", "hi")
        assert len(chats.messages("c1")) == 3
        backend.elapse(PAST_TTL)
        assert chats.messages("c1") == ()
        assert backend.store.get("conversation:c1") is None

    asyncio.run(main())


def test_an_unreadable_session_is_a_state_store_error() -> None:
    store = MemoryStore()
    store.set("conversation:c1", '{"id": "s1"}')
    with pytest.raises(StateStoreError, match="'c1' is not readable"):
        _chats(store, []).messages("c1")
