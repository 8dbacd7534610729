"""`InProcessConnector`: streams to a `StreamServer` without a socket, over
`cxml.MemoryChannel` pairs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cxml import MemoryChannel

if TYPE_CHECKING:
    from ._session import StreamResult
    from .server import StreamServer

__all__ = ["InProcessConnector"]


class _PlatformEnd(MemoryChannel):
    """A `MemoryChannel` whose ``close`` waits for the server's session on the other end
    (if ``session`` is set) to finish its clean-up."""

    session: asyncio.Task[StreamResult] | None = None

    async def close(self) -> None:
        await super().close()
        if self.session is not None and self.session is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.session), 5.0)


class InProcessConnector:
    """Streams to ``server`` in process: ``await connector(url, parameters)`` gives the
    platform's end of a new stream (a `cxml.StreamChannel`: async ``send``/``receive``/
    ``close``; ``receive`` is None once the session ended) and runs the server's session
    on the other end.

    This is the connector a call simulator takes for ``<Connect><Stream>``; ``url`` and
    ``parameters`` are accepted for its signature (the parameters travel in the ``start``
    message the simulator sends). ``close()`` waits for the session to finish.
    """

    def __init__(self, server: StreamServer) -> None:
        self.server = server
        self.urls: list[str] = []

    async def __call__(self, url: str, parameters: Mapping[str, str]) -> MemoryChannel:
        self.urls.append(url)
        platform, app = _PlatformEnd.pair()
        platform.session = self.server._spawn(app)
        return platform
