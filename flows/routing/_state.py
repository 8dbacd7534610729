"""State shared across calls and processes: round-robin cursors, conversation sessions.

Per-call state travels in signed callback URLs; what several calls (and several processes)
share goes through a `StateStore`. `MemoryStore` serves one process; `RedisStore` serves a
backend running many. Both behave the same way, Redis's way:

- ``incr`` counts from 1 (a missing key is 0); ``get``/``set``/``delete`` are strings (a
  counter reads as its decimal text). A missing key reads as 0 or None.
- ``ttl`` (seconds, > 0) restarts the key's lifetime at every write that passes it, so a key
  lives while it is used. ``incr`` without ``ttl`` keeps the key's current expiry (none for a
  new key); ``set`` replaces value and expiry, like Redis SET.
- ``incr`` on a string that is not a 64-bit integer, and any failure of the store itself, raise
  `StateStoreError` (code ``STATE_STORE_ERROR``), never a driver error: callers fall back (the
  router takes a random turn instead of the round-robin one) with one except clause.

redis-py is needed only by `RedisStore` and imported when one is made.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import attrs

from cxml import CxmlError

if TYPE_CHECKING:
    import redis

__all__ = ["MemoryStore", "RedisStore", "StateStore", "StateStoreError"]

#: What Redis's INCR accepts as an integer: no sign on 0, no leading zeros, no spaces.
_INTEGER: Final = re.compile(r"0|-?[1-9][0-9]{0,18}")
_INT64_MAX: Final = 2**63 - 1
_INT64_MIN: Final = -(2**63)
#: A MemoryStore sweeps out expired keys every this many writes (keys nobody reads again).
_SWEEP_EVERY: Final = 256


class StateStoreError(CxmlError):
    """The state store failed (unreachable, timed out) or a key was used as the wrong kind."""

    code: int | str = "STATE_STORE_ERROR"


@runtime_checkable
class StateStore(Protocol):
    """Shared key-value state. Keys are plain strings; implementations may namespace them."""

    def incr(self, key: str, *, ttl: float | None = None) -> int:
        """Add one to the counter ``key`` atomically and return the new value (first call: 1)."""
        ...

    def get(self, key: str) -> str | None:
        """The string ``key`` (a counter reads as its decimal text), or None."""
        ...

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        """Store the string ``value`` under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and not (ttl > 0 and math.isfinite(ttl)):
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")


def _not_integer(key: str) -> StateStoreError:
    return StateStoreError(f"state key {key!r} does not hold a 64-bit integer")


@attrs.define
class _Entry:
    #: A counter ``incr`` wrote stays an int (it reads as its decimal text).
    value: str | int
    expires: float | None = None


class MemoryStore:
    """A `StateStore` in this process's memory; thread-safe.

    ``clock`` returns seconds on a monotonic scale (tests pass a fake one to expire keys).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._data: dict[str, _Entry] = {}
        self._writes = 0

    def __repr__(self) -> str:
        return f"MemoryStore(keys={len(self._data)})"

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires is not None and entry.expires <= now:
            del self._data[key]
            return None
        return entry

    def _wrote(self, entry: _Entry, now: float, ttl: float | None) -> None:
        if ttl is not None:
            entry.expires = now + ttl
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        # Keys that expire may never be read again (a conversation nobody continues).
        for key in [k for k, e in self._data.items() if e.expires is not None]:
            self._live(key, now)

    def incr(self, key: str, *, ttl: float | None = None) -> int:
        _check_ttl(ttl)
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is None:
                entry = self._data[key] = _Entry(0)
            value = entry.value
            if isinstance(value, str):  # set wrote it: count on only from what INCR accepts
                if not _INTEGER.fullmatch(value) or int(value) < _INT64_MIN:
                    raise _not_integer(key)
                value = int(value)
            count = value + 1
            if count > _INT64_MAX:  # Redis counters are 64-bit; stay interchangeable
                raise StateStoreError(f"state counter {key!r} would overflow")
            entry.value = count
            self._wrote(entry, now, ttl)
            return count

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._live(key, self._clock())
            return None if entry is None else str(entry.value)

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        _check_ttl(ttl)
        with self._lock:
            now = self._clock()
            entry = self._data[key] = _Entry(value)  # a new entry: no expiry unless ttl
            self._wrote(entry, now, ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


def _text(value: bytes | str) -> str:
    # The client may or may not have decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value


def _milliseconds(ttl: float) -> int:
    return max(1, round(ttl * 1000))


def _missing_timeouts(client: object) -> list[str]:
    """The socket timeouts ``client``'s connections would go without: each is None, or the
    client is not one whose connection settings can be read (a cluster client, a stand-in)."""
    pool = getattr(client, "connection_pool", None)
    try:
        # A connection made from the pool's settings (not connected) applies the driver's
        # defaults, which changed across redis-py versions (none before 6, 5 s since).
        probe = pool.connection_class(**pool.connection_kwargs)  # type: ignore[union-attr]
    except Exception:
        return ["socket timeouts that can be read (it is not a redis.Redis)"]
    names = ("socket_timeout", "socket_connect_timeout")
    return [name for name in names if getattr(probe, name, None) is None]


class RedisStore:
    """A `StateStore` on Redis, shared by every process using the same server and ``prefix``.

    Counters are INCR, strings GET/SET PX, all under ``prefix + key``. An ``incr`` with a
    ``ttl`` runs in one MULTI/EXEC transaction with its PEXPIRE, so no key is ever left
    without the expiry it was given (a process dying in between cannot leak it).

    The client must have socket timeouts (``socket_timeout`` and ``socket_connect_timeout``,
    as `from_url` sets them): without them a stalled server blocks routing forever, so such a
    client is refused with `StateStoreError` code ``NO_SOCKET_TIMEOUT``.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = "cxmlflow:") -> None:
        import redis as driver  # optional dependency: only RedisStore needs it

        missing = _missing_timeouts(client)
        if missing:
            raise StateStoreError(
                f"RedisStore: the client has no {' or '.join(missing)} (a stalled server would "
                "block routing forever); pass socket_timeout and socket_connect_timeout to "
                "redis.Redis (RedisStore.from_url sets 2 s)",
                code="NO_SOCKET_TIMEOUT",
            )
        self.client = client
        self.prefix = prefix
        self._driver_error = driver.RedisError

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "cxmlflow:", **options: Any) -> RedisStore:
        """A store on ``redis://[:password@]host:port/db`` (or ``rediss://``, ``unix://``).

        ``options`` go to `redis.Redis.from_url`; socket timeouts default to 2 s so that a
        stalled server delays a call's routing by seconds, not forever.
        """
        import redis as driver

        options.setdefault("socket_timeout", 2.0)
        options.setdefault("socket_connect_timeout", 2.0)
        return cls(driver.Redis.from_url(url, **options), prefix=prefix)

    def __repr__(self) -> str:
        return (
            f"RedisStore(prefix={self.prefix!r})"  # never the client: its URL may hold a password
        )

    @contextmanager
    def _guard(self, operation: str, key: str) -> Iterator[None]:
        try:
            yield
        except self._driver_error as exc:
            if "WRONGTYPE" in str(exc):  # written by something else sharing the server
                raise StateStoreError(f"state key {key!r} holds another kind of value") from exc
            if "not an integer" in str(exc):
                raise _not_integer(key) from exc
            message = f"state store {operation} of {key!r} failed: {type(exc).__name__}: {exc}"
            raise StateStoreError(message) from exc

    def incr(self, key: str, *, ttl: float | None = None) -> int:
        _check_ttl(ttl)
        name = self.prefix + key
        with self._guard("incr", key):
            if ttl is None:
                return int(self.client.incr(name))
            pipe = self.client.pipeline(transaction=True)
            pipe.incr(name)
            pipe.pexpire(name, _milliseconds(ttl))
            return int(pipe.execute()[0])

    def get(self, key: str) -> str | None:
        with self._guard("get", key):
            value: bytes | str | None = self.client.get(self.prefix + key)
            return None if value is None else _text(value)

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        _check_ttl(ttl)
        with self._guard("set", key):
            if ttl is None:
                self.client.set(self.prefix + key, value)
            else:
                self.client.set(self.prefix + key, value, px=_milliseconds(ttl))

    def delete(self, key: str) -> None:
        with self._guard("delete", key):
            self.client.delete(self.prefix + key)
