"""`ProviderBridge`: the engine that carries a call onward to a remote AI endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping

from cxml import CxmlError, StreamChannel

from .._errors import AssistantUnavailableError, MediaError, MediaProtocolError
from .._registry import MEDIA_FORMATS
from ._outcome import FINISHED, Outcome
from ._websocket import connect_websocket
from .codecs import encoding_of, open_codec
from .engine import Output, StreamCall
from .protocols import Media, Stop, Unknown
from .protocols.smartpbx import SmartPbxClient
from .resample import Framer

__all__ = ["ProviderBridge", "e164"]

log = logging.getLogger("providers.media")


def e164(number: str | None) -> str:
    """``number`` in E.164 when it is one (``+`` and 1-15 digits, spaces, dashes, dots and
    brackets dropped; a ``sip:``/``tel:`` user part too); anything else (an extension,
    ``anonymous``) as given, and "" for none.

    >>> e164("+1 (555) 010-2030"), e164("sip:+15550102030@pbx.example.com"), e164("1001")
    ('+15550102030', '+15550102030', '1001')
    """
    if not number:
        return ""
    user = number
    if user[:4].lower() in ("sip:", "tel:"):
        user = user[4:].split("@", 1)[0].split(";", 1)[0]
    elif user[:5].lower() == "sips:":
        user = user[5:].split("@", 1)[0].split(";", 1)[0]
    digits = user.translate(_SEPARATORS)
    if _E164.fullmatch(digits):
        return digits
    return number


_SEPARATORS = str.maketrans("", "", " -.()")
_E164 = re.compile(r"\+[1-9][0-9]{0,14}", re.ASCII)


class ProviderBridge:
    """An `Engine` that carries the call to a remote endpoint speaking SmartPBX's protocol
    (seed 002): it connects to ``url`` with ``headers``, sends ``start`` (the call's id, its
    caller's and callee's numbers in E.164, its account, the endpoint's ``media`` format:
    ``pcm16`` at 24 kHz, ``g711_ulaw`` at 8 kHz, ``opus`` at 48 kHz), and converts audio
    both ways (the bridge's resamplers meet the endpoint's rate).

    The endpoint closing its socket (or sending ``stop``) ends the call: ``finished``. Events
    of other names are ignored and counted (``ignored``, and ``on_ignored()`` each time); a
    malformed message ends the call with ``error`` ``ENDPOINT_PROTOCOL``, a lost connection
    with ``ENDPOINT_LOST``. The endpoint cannot be told to stop (the protocol has no clear):
    on barge-in the bridge drops its own queue, so the caller stops hearing the reply at once.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        media: str = "pcm16",
        connect: Callable[[str, Mapping[str, str]], Awaitable[StreamChannel]] = connect_websocket,
        on_ignored: Callable[[], None] | None = None,
    ) -> None:
        if media not in MEDIA_FORMATS:
            raise MediaError(f"media is one of {', '.join(MEDIA_FORMATS)}, not {media!r:.20}")
        self.url, self.media = url, media
        self._headers = dict(headers or {})
        self._connect = connect
        self._on_ignored = on_ignored
        self.sample_rate: int = MEDIA_FORMATS[media]
        self.barge_in = True
        self._encoding = encoding_of(media)
        self._codec = open_codec(self._encoding, self.sample_rate)
        self._framer = Framer(2 * self.sample_rate // 50) if self._encoding == "opus" else None
        self._connection: StreamChannel | None = None
        self._reader: asyncio.Task[None] | None = None
        self._client: SmartPbxClient | None = None
        self._output: Output | None = None
        self._lost = False
        #: Barge-ins, with the seconds played of each reply (the endpoint is not told).
        self.interruptions: list[float] = []
        #: Events of unknown names the endpoint sent (ignored).
        self.ignored = 0

    def __repr__(self) -> str:  # headers hold tokens
        return f"ProviderBridge({self.url!r}, media={self.media!r})"

    async def start(self, call: StreamCall, output: Output) -> None:
        self._output = output
        self._client = SmartPbxClient(
            call.call_sid,
            account_id=call.account_sid or "",
            caller=e164(call.caller),
            callee=e164(call.callee),
            encoding=self._encoding,
            sample_rate=self.sample_rate,
        )
        try:
            self._connection = await self._connect(self.url, self._headers)
        except CxmlError:
            raise
        except Exception as exc:
            raise AssistantUnavailableError(
                f"the AI endpoint could not be reached: {type(exc).__name__}"
            ) from None
        await self._connection.send(self._client.start())
        self._reader = asyncio.create_task(self._read(output))

    async def _read(self, output: Output) -> None:
        assert self._connection is not None
        assert self._client is not None
        outcome = FINISHED
        try:
            while True:
                message = await self._connection.receive()
                if message is None:
                    break
                event = self._client.parse(message)
                if isinstance(event, Media):
                    await output.play(self._codec.decode(event.payload))
                elif isinstance(event, Stop):
                    break
                elif isinstance(event, Unknown):
                    self.ignored += 1
                    if self._on_ignored is not None:
                        self._on_ignored()
        except CxmlError as exc:
            outcome = _endpoint_error(exc)
        await output.end(outcome)

    async def audio(self, pcm: bytes) -> None:
        connection, client = self._connection, self._client
        if connection is None or client is None or self._lost:
            return
        try:
            if self._framer is not None:  # Opus: one 20 ms packet a message
                for frame in self._framer.push(pcm):
                    await connection.send(client.media(self._codec.encode(frame)))
            else:
                await connection.send(client.media(self._codec.encode(pcm)))
        except CxmlError as exc:
            self._lost = True  # nothing more goes to a lost endpoint
            if self._output is not None:
                await self._output.end(_endpoint_error(exc))

    async def dtmf(self, digit: str) -> None:
        return None  # the protocol carries no keys

    async def played(self, mark: str) -> None:
        return None

    async def interrupted(self, played: float) -> None:
        self.interruptions.append(played)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._connection is not None:
            await self._connection.close()


def _endpoint_error(exc: CxmlError) -> Outcome:
    code = "ENDPOINT_PROTOCOL" if isinstance(exc, MediaProtocolError) else "ENDPOINT_LOST"
    return Outcome("error", code=code, detail=f"[{exc.code}] {exc.message}")
