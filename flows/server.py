"""`create_app`: a Starlette (ASGI) application that serves a PBX to the platform.

One app, one port: the voice webhook (``/voice``, answering CXML from a `Router`), the media
WebSocket (``/media``, the `StreamServer` sessions behind ``<Connect><Stream>``), and the
probes ``/healthz`` and ``/readyz``. Run it under any ASGI server (uvicorn: see docs/serve.md).

This module imports Starlette (``pip install 'cxmlflow[serve]'``); ``import flows`` does not.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
from collections.abc import Collection
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from cxml import CallRequest, CallRequestError, StreamError, render

from .routing import EXAMPLE_PBX, RedisStore, Router, load_pbx

if TYPE_CHECKING:
    from providers.media import StreamServer

__all__ = [
    "AUTHENTICATED_ROUTES",
    "ENV_BASE_URL",
    "ENV_CONFIG",
    "ENV_DEV",
    "ENV_REDIS",
    "ENV_SECRET",
    "ENV_TOKEN",
    "MAX_BODY",
    "StarletteChannel",
    "app_from_environment",
    "create_app",
]

log = logging.getLogger("flows.server")

#: The routes that take ``Authorization: Bearer <token>`` (see `create_app`'s ``open_routes``).
AUTHENTICATED_ROUTES = frozenset({"voice"})
#: The largest webhook body read, in bytes (the platform's are a few hundred).
MAX_BODY = 64 * 1024
#: WebSocket close codes of a clean end: normal, going away, no status given.
_CLEAN_CLOSE = frozenset({1000, 1001, 1005})
#: The environment `app_from_environment` reads (``cxml serve`` sets the settings for its
#: workers; the secrets are only ever read from the environment).
ENV_SECRET = "CXMLFLOW_SECRET"  # the router's signing secret
ENV_TOKEN = "CXMLFLOW_WEBHOOK_TOKEN"  # the platform's requests API key (bearer token)
ENV_CONFIG = "CXMLFLOW_CONFIG"  # the PBX configuration (default: the example PBX)
ENV_BASE_URL = "CXMLFLOW_BASE_URL"  # the public URL of /voice
ENV_REDIS = "CXMLFLOW_REDIS_URL"  # a RedisStore's URL (default: the in-memory store)
ENV_DEV = "CXMLFLOW_DEV"  # "1": serve /voice without a token when none is set
#: The key `/readyz` reads to see that the state store answers.
_READY_KEY = "cxmlflow:readyz"


class _BadBodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class StarletteChannel:
    """A `cxml.StreamChannel` over an accepted Starlette `WebSocket`.

    As `cxml.WebSocketChannel`: a clean close ends the stream quietly (``receive`` returns
    None, a frame sent after it goes nowhere); an abnormal close is `StreamError` 31920, a
    binary frame 31950.
    """

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self._closed = False

    async def send(self, text: str) -> None:
        if self._closed or self._ws.application_state != WebSocketState.CONNECTED:
            return
        try:
            await self._ws.send_text(text)
        except (OSError, RuntimeError):  # the peer went away meanwhile: nowhere to send
            self._closed = True

    async def receive(self) -> str | None:
        if self._closed:
            return None
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            self._closed = True
            code = message.get("code", 1000)
            if code in _CLEAN_CLOSE:
                return None
            raise StreamError(f"the stream closed abnormally (code {code})", code=31920)
        text = message.get("text")
        if text is None:
            raise StreamError("the peer sent a binary frame", code=31950)
        return str(text)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(OSError, RuntimeError):  # the peer closed it first
                await self._ws.close()


def create_app(
    router: Router,
    *,
    token: str | None = None,
    streams: StreamServer | None = None,
    open_routes: Collection[str] = (),
) -> Starlette:
    """A Starlette application serving ``router`` (and ``streams``, if given) to the platform.

    Routes: ``/voice`` (POST with a form-encoded or JSON body, or GET with the query; answers
    ``application/xml``), ``/media`` (a WebSocket for ``<Connect><Stream>``, when ``streams``
    is given; streams need the tickets its `MediaBridge` signs), ``/healthz`` (200 while the
    process is up) and ``/readyz`` (200 when the router's store answers, else 503).

    ``token`` is the platform's requests API key: the routes in `AUTHENTICATED_ROUTES` answer
    401 unless the request carries ``Authorization: Bearer <token>`` (compared in constant
    time). ``open_routes`` names those served without it (``{"voice"}``, for development);
    without a ``token`` every one of them must be named there, so a missing setting is an
    error, not a server open to anyone.
    """
    unknown = set(open_routes) - AUTHENTICATED_ROUTES
    if unknown:
        raise ValueError(f"open_routes: no such authenticated route: {sorted(unknown)}")
    guarded = AUTHENTICATED_ROUTES - set(open_routes)
    if token is None and guarded:
        raise ValueError(
            f"create_app needs token= (the platform's requests API key) for {sorted(guarded)}, "
            "or those routes in open_routes= to serve them without one"
        )
    if token is not None and not token:
        raise ValueError("token must not be empty")
    expected = token.encode() if token is not None else b""

    def authorized(request: Request, route: str) -> bool:
        if route not in guarded:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        # Header values arrive decoded as latin-1: encoding back gives the bytes sent.
        return hmac.compare_digest(given.strip().encode("latin-1"), expected)

    async def voice(request: Request) -> Response:
        if not authorized(request, "voice"):
            log.info("voice: 401 (no valid bearer token)")
            return PlainTextResponse(
                "unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            body = dict(request.query_params) if request.method == "GET" else await _body(request)
            call = CallRequest.from_payload(body, url=_callback_url(router, request))
        except _BadBodyError as exc:
            log.info("voice: %d %s", exc.status, exc)
            return PlainTextResponse(str(exc), status_code=exc.status)
        except CallRequestError as exc:
            log.info("voice: 400 bad field %r", exc.field)
            return PlainTextResponse(f"{exc.field}: {exc.message}", status_code=400)
        doc = await run_in_threadpool(router.handle, call)  # a RedisStore call blocks
        log.info("voice: call %r answered", call.call_sid)
        return Response(render(doc), media_type="application/xml")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        try:
            await run_in_threadpool(router.store.get, _READY_KEY)
        except Exception as exc:  # any failure of the store means not ready
            log.warning("readyz: the state store failed: %s", type(exc).__name__)
            return PlainTextResponse("the state store does not answer", status_code=503)
        return PlainTextResponse("ready")

    routes: list[Route | WebSocketRoute] = [
        Route("/voice", voice, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if streams is not None:
        server = streams

        async def media(websocket: WebSocket) -> None:
            await websocket.accept()
            channel = StarletteChannel(websocket)
            try:
                await server.handle(channel)
            finally:
                await channel.close()

        routes.append(WebSocketRoute("/media", media))
    return Starlette(routes=routes)


async def _body(request: Request) -> dict[str, object]:
    """A POST body as the platform sends it: JSON or form-encoded, at most `MAX_BODY`."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise _BadBodyError(413, f"the body is over {MAX_BODY} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise _BadBodyError(413, f"the body is over {MAX_BODY} bytes")
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CallRequestError("the body is not UTF-8", field="$") from None
    if kind == "application/json" or kind.endswith("+json"):
        try:
            parsed = json.loads(text) if text.strip() else {}
        except ValueError:
            raise CallRequestError("the body is not JSON", field="$") from None
        if not isinstance(parsed, dict):
            raise CallRequestError("the request body must be a JSON object", field="$")
        return parsed
    if kind in ("application/x-www-form-urlencoded", ""):
        return dict(parse_qsl(text, keep_blank_values=True))
    raise _BadBodyError(415, f"unsupported content type {kind[:64]!r}: send JSON or a form")


def _callback_url(router: Router, request: Request) -> str:
    """The URL the platform requested, as the router wrote it: its ``base_url`` (scheme,
    host and path; behind a TLS proxy the server sees another) with the query requested,
    which carries the signed state of a callback."""
    base = urlsplit(router.base_url)
    return urlunsplit((base.scheme, base.netloc, base.path, request.url.query, ""))


def app_from_environment() -> Starlette:
    """The app ``cxml serve`` runs in each uvicorn worker, built from the environment.

    ``CXMLFLOW_CONFIG`` (default: the example PBX), ``CXMLFLOW_BASE_URL`` (required),
    ``CXMLFLOW_REDIS_URL`` (default: the in-memory store), the secrets ``CXMLFLOW_SECRET``
    and ``CXMLFLOW_WEBHOOK_TOKEN``; without the token, ``/voice`` is open only when
    ``CXMLFLOW_DEV`` is ``1``. A usable factory for ``uvicorn --factory`` too.
    """
    env = os.environ
    secret = env.get(ENV_SECRET)
    if not secret:
        raise RuntimeError(f"set {ENV_SECRET} (the router's signing secret) in the environment")
    base_url = env.get(ENV_BASE_URL)
    if not base_url:
        raise RuntimeError(f"set {ENV_BASE_URL} (the public URL of /voice) in the environment")
    token = env.get(ENV_TOKEN) or None
    if token is None and env.get(ENV_DEV) != "1":
        raise RuntimeError(f"set {ENV_TOKEN} (the platform's requests API key) in the environment")
    redis_url = env.get(ENV_REDIS)
    router = Router(
        load_pbx(env.get(ENV_CONFIG) or EXAMPLE_PBX),
        base_url=base_url,
        secret=secret,
        store=RedisStore.from_url(redis_url) if redis_url else None,
    )
    return create_app(router, token=token, open_routes=() if token else ("voice",))
