"""How an AI stream ended, from the media bridge to the router, through the `StateStore`.

The bridge (`providers.media.StreamServer`) records each stream's `Outcome` under the call's
sid (`outcome_recorder`); the router reads it when the stream's ``<Connect>`` action, or the
``<Redirect>`` after it, comes back, in whichever process that request lands. The router
claims each stream end once (an atomic counter per callback URL), so an action followed by
the Redirect, or a retried request, never routes the call twice.

>>> import asyncio
>>> from providers.media import Outcome, StreamCall
>>> from flows.routing import MemoryStore
>>> store = MemoryStore()
>>> record = outcome_recorder(store)
>>> asyncio.run(record(StreamCall("CA1"), Outcome("transfer", destination="1001")))
>>> store.get(outcome_key("CA1"))
'{"kind":"transfer","destination":"1001"}'
>>> normalise_number(" +1 (415) 555-0123 ")
'+14155550123'
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import TYPE_CHECKING, Final

from ._state import StateStore

if TYPE_CHECKING:  # providers.media loads numpy: only a process that streams needs it
    from providers.media import Outcome, StreamCall
    from providers.media.server import OutcomeHandler

__all__ = [
    "OUTCOME_TTL",
    "claim_key",
    "normalise_number",
    "outcome_key",
    "outcome_recorder",
    "read_outcome",
]

#: Seconds a recorded outcome (and a claim) is kept: longer than any call waits for it.
OUTCOME_TTL: Final = 3600.0
#: What people and AIs put between a number's digits.
_SEPARATORS: Final = re.compile(r"[\s().\-/]+")


def outcome_key(call_sid: str) -> str:
    """The store key of the outcome of a call's latest AI stream."""
    return f"ai_outcome:{call_sid}"


def claim_key(call_sid: str, token: str) -> str:
    """The store key that counts the requests answering the stream end ``token`` names."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:24]
    return f"ai_outcome:{call_sid}:claim:{digest}"


def outcome_recorder(store: StateStore, *, ttl: float = OUTCOME_TTL) -> OutcomeHandler:
    """The ``on_outcome`` callback for `StreamServer` that records each stream's outcome in
    ``store`` for ``ttl`` seconds, keyed by the call's sid. The store is called off the event
    loop (a `RedisStore` blocks); a failure reaches ``StreamServer.errors``."""

    async def record(call: StreamCall, outcome: Outcome) -> None:
        if call.call_sid:  # a stream without a call sid has nothing to continue
            key, text = outcome_key(call.call_sid), outcome.to_json()
            await asyncio.to_thread(store.set, key, text, ttl=ttl)

    return record


def read_outcome(text: str) -> Outcome:
    """The outcome the bridge recorded as ``text`` (`providers.media.OutcomeError` if it is
    not one)."""
    from providers.media import Outcome

    return Outcome.from_json(text)


def normalise_number(text: str) -> str:
    """``text`` without a ``tel:`` prefix, spaces and the usual separators (``-().``/)."""
    text = text.strip()
    if text[:4].lower() == "tel:":
        text = text[4:]
    return _SEPARATORS.sub("", text)
