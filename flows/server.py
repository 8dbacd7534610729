"""`create_app`: a Starlette (ASGI) application that serves a PBX to the platform.

One app, one port: the voice webhook (``/voice``, answering CXML from a `Router`), the
platform's session-update and CDR webhooks (``/session``, ``/cdr``), the media WebSocket
(``/media``, the `StreamServer` sessions behind ``<Connect><Stream>``), the probes
``/healthz`` and ``/readyz``, a configuration reload (SIGHUP, ``POST /admin/reload``) and
Prometheus counters (``/metrics``). Run it under any ASGI server (uvicorn: see docs/serve.md).

This module imports Starlette (``pip install 'cxmlflow[serve]'``); ``import flows`` does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from cxml import (
    CallRecord,
    CallRequest,
    CallRequestError,
    Issue,
    Pause,
    Play,
    Say,
    SessionUpdate,
    StreamError,
    render,
)
from cxml import Response as CxmlResponse

from .routing import EXAMPLE_PBX, PbxConfigError, RedisStore, Router, StateStore, load_pbx
from .routing._config import describe

if TYPE_CHECKING:
    from providers.media import StreamServer
    from providers.media.server import EngineFactory

__all__ = [
    "AUTHENTICATED_ROUTES",
    "ENV_ADMIN_TOKEN",
    "ENV_BASE_URL",
    "ENV_CONFIG",
    "ENV_DEV",
    "ENV_METRICS",
    "ENV_REDIS",
    "ENV_SECRET",
    "ENV_TOKEN",
    "ENV_WORKERS",
    "MAX_BODY",
    "StarletteChannel",
    "app_from_environment",
    "create_app",
    "log_config",
    "media_secret",
    "media_url",
]

log = logging.getLogger("flows.server")

#: The routes that take ``Authorization: Bearer <token>`` (see `create_app`'s ``open_routes``).
AUTHENTICATED_ROUTES = frozenset({"voice", "session", "cdr"})
#: The largest webhook body read, in bytes (the platform's are a few hundred).
MAX_BODY = 64 * 1024
#: WebSocket close codes of a clean end: normal, going away, no status given.
_CLEAN_CLOSE = frozenset({1000, 1001, 1005})
#: The environment `app_from_environment` reads (``cxml serve`` sets the settings for its
#: workers; the secrets are only ever read from the environment).
ENV_SECRET = "CXMLFLOW_SECRET"  # the router's signing secret
ENV_TOKEN = "CXMLFLOW_WEBHOOK_TOKEN"  # the platform's requests API key (bearer token)
ENV_ADMIN_TOKEN = "CXMLFLOW_ADMIN_TOKEN"  # the bearer token of POST /admin/reload
ENV_CONFIG = "CXMLFLOW_CONFIG"  # the PBX configuration (default: the example PBX)
ENV_BASE_URL = "CXMLFLOW_BASE_URL"  # the public URL of /voice
ENV_REDIS = "CXMLFLOW_REDIS_URL"  # a RedisStore's URL (default: the in-memory store)
ENV_DEV = "CXMLFLOW_DEV"  # "1": serve the webhooks without a token when none is set
ENV_METRICS = "CXMLFLOW_METRICS"  # "1": serve /metrics (needs prometheus-client)
ENV_WORKERS = "CXMLFLOW_WORKERS"  # uvicorn worker processes (a reload reaches them all)
#: The key `/readyz` reads to see that the state store answers.
_READY_KEY = "cxmlflow:readyz"
#: What a media ticket key is derived with from the router's secret (`media_secret`).
_TICKET_KEY_LABEL = b"cxmlflow media tickets v1"


class _BadBodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def media_url(base_url: str) -> str:
    """The public URL of ``/media`` beside ``base_url`` (the public URL of ``/voice``): the
    same host and directory, ``wss://`` for ``https://`` (``ws://`` for ``http://``).

    >>> media_url("https://pbx.example.com/voice")
    'wss://pbx.example.com/media'
    >>> media_url("https://example.com/tenant-7/voice?x=1")
    'wss://example.com/tenant-7/media'
    """
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rpartition("/")[0] + "/media", "", ""))


def media_secret(secret: str | bytes) -> bytes:
    """The key the media tickets are signed with, derived from the router's ``secret``: one
    secret to set, and no callback state can ever pass for a ticket (or back)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, _TICKET_KEY_LABEL, hashlib.sha256).digest()


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


class _Metrics:
    """The counters ``/metrics`` serves (prometheus-client, a registry of this app's own)."""

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter
        except ImportError:
            raise RuntimeError(
                "metrics=True needs prometheus-client: pip install 'cxmlflow[metrics]'"
            ) from None
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cxmlflow_requests", "Webhook requests, by route and HTTP status",
            ["route", "status"], registry=self.registry,
        )  # fmt: skip
        self.answers = Counter(
            "cxmlflow_answers", "Voice answers, by their first verb that is not a prompt",
            ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.streams = Counter(
            "cxmlflow_streams", "Media streams ended, by outcome",
            ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.reloads = Counter(
            "cxmlflow_reloads", "Configuration reloads, by result",
            ["result"], registry=self.registry,
        )  # fmt: skip

    def render(self) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


_Event = TypeVar("_Event", SessionUpdate, CallRecord)


def _outcome(doc: CxmlResponse) -> str:
    """What a voice answer does, for logs and counters: its first verb that is not a prompt
    (``gather``, ``dial``, ``connect``, ``hangup``, ...)."""
    for verb in doc.children:
        if not isinstance(verb, Say | Play | Pause):
            return type(verb).__name__.lower()
    return "prompt" if doc.children else "empty"


def _issue_json(issue: Issue) -> dict[str, object]:
    return {"code": issue.code, "path": issue.path, "line": issue.line, "message": issue.message}


def create_app(
    pbx: Router | str | os.PathLike[str],
    *,
    token: str | None = None,
    open_routes: Collection[str] = (),
    streams: StreamServer | None = None,
    base_url: str | None = None,
    secret: str | bytes | None = None,
    store: StateStore | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    engines: EngineFactory | None = None,
    config: str | os.PathLike[str] | None = None,
    admin_token: str | None = None,
    on_reload: Callable[[], None] | None = None,
    metrics: bool = False,
    on_session_update: Callable[[SessionUpdate], Awaitable[None]] | None = None,
    on_cdr: Callable[[CallRecord], Awaitable[None]] | None = None,
) -> Starlette:
    """A Starlette application serving a PBX to the platform.

    ``pbx`` is a `Router` (then ``streams``, if given, serves ``/media``), or the path of a
    PBX configuration: the app then builds the whole of it from ``base_url`` (the public URL
    of ``/voice``), ``secret``, ``store`` and ``clock``: the router, its `MediaBridge` (at
    `media_url`, tickets signed with `media_secret`) and the `StreamServer` of ``/media``
    (``engines`` as its, default `engine_for`; tickets dated by the router's clock).

    Routes: ``/voice`` (POST with a form-encoded or JSON body, or GET with the query; answers
    ``application/xml``), ``/session`` and ``/cdr`` (POST: the session-update and CDR
    webhooks, read as `cxml.SessionUpdate` / `cxml.CallRecord` and awaited as
    ``on_session_update(update)`` / ``on_cdr(record)``; 204, a 400 naming the field of a bad
    payload, a 500 if the callback raised), ``/media`` (a WebSocket for
    ``<Connect><Stream>``), ``/healthz`` (200 while the process is up), ``/readyz`` (200 when
    the router's store answers, else 503), ``/admin/reload`` (with ``admin_token``) and
    ``/metrics`` (with ``metrics``).

    ``token`` is the platform's requests API key: the routes in `AUTHENTICATED_ROUTES` answer
    401 unless the request carries ``Authorization: Bearer <token>`` (compared in constant
    time). ``open_routes`` names those served without it (``{"cdr"}`` where CDRs come without
    one; all of them for development); without a ``token`` every one of them must be named
    there, so a missing setting is an error, not a server open to anyone.

    Reload: ``config`` (the path given as ``pbx``, by default) is loaded and checked again on
    SIGHUP and on ``POST /admin/reload`` (``Authorization: Bearer <admin_token>``); the new
    PBX replaces the old one atomically, or, if the file has problems, the old one stays and
    the problems are logged (and answered, 422). ``on_reload()`` runs after an admin reload
    succeeded (``cxml serve --workers``: have uvicorn replace every worker).
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
    if admin_token is not None and not admin_token:
        raise ValueError("admin_token must not be empty")
    if isinstance(pbx, Router):
        given = {"base_url": base_url, "secret": secret, "store": store, "clock": clock,
                 "engines": engines}  # fmt: skip
        misplaced = [name for name, value in given.items() if value is not None]
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)}: give them to the Router, or pass a path")
        router = pbx
    else:
        if base_url is None or secret is None:
            raise ValueError("create_app(path) needs base_url= and secret=")
        if streams is not None:
            raise ValueError("streams=: create_app(path) builds the media server itself")
        config = pbx if config is None else config
        router, streams = _build(
            Path(pbx), base_url=base_url, secret=secret, store=store, clock=clock, engines=engines
        )
    if admin_token is not None and config is None:
        raise ValueError("admin_token= needs config= (the file a reload reads)")
    app = _PbxApp(
        router,
        streams,
        guarded=guarded,
        token=token,
        config=Path(config) if config is not None else None,
        metrics=_Metrics() if metrics else None,
        on_reload=on_reload,
        on_session_update=on_session_update,
        on_cdr=on_cdr,
    )
    return app.starlette(admin_token)


class _PbxApp:
    """The routes of one `create_app` application, and what they share."""

    def __init__(
        self,
        router: Router,
        streams: StreamServer | None,
        *,
        guarded: Collection[str],
        token: str | None,
        config: Path | None,
        metrics: _Metrics | None,
        on_reload: Callable[[], None] | None,
        on_session_update: Callable[[SessionUpdate], Awaitable[None]] | None,
        on_cdr: Callable[[CallRecord], Awaitable[None]] | None,
    ) -> None:
        #: What serves calls now. A reload replaces the router whole, so each request,
        #: which reads it once, sees one configuration.
        self.router = router
        self.streams = streams
        self.guarded = guarded
        self._token = token.encode() if token is not None else b""
        self.config = config
        self.metrics = metrics
        self.on_reload = on_reload
        self.on_session_update = on_session_update
        self.on_cdr = on_cdr
        self._reloading = asyncio.Lock()  # one reload at a time

    def starlette(self, admin_token: str | None) -> Starlette:
        routes: list[Route | WebSocketRoute] = [
            Route("/voice", self.voice, methods=["GET", "POST"]),
            Route("/session", self.session, methods=["POST"]),
            Route("/cdr", self.cdr, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ]
        if admin_token is not None:
            admin = admin_token.encode()

            async def admin_reload(request: Request) -> Response:
                return await self.admin_reload(request, admin)

            routes.append(Route("/admin/reload", admin_reload, methods=["POST"]))
        if self.metrics is not None:
            routes.append(Route("/metrics", self.metrics_route, methods=["GET"]))
        if self.streams is not None:
            routes.append(WebSocketRoute("/media", self.media))
        return Starlette(routes=routes, lifespan=self.lifespan)

    # --- logging and counting -------------------------------------------------------------

    def done(self, route: str, status: int, call: str | None = None, outcome: str = "") -> None:
        """One log line per request (never a header or a token), and its count."""
        # Call sids come from the request: %r keeps a forged one on its own line.
        log.info("%s %d call=%r %s", route, status, call, outcome)
        if self.metrics is not None:
            self.metrics.requests.labels(route, str(status)).inc()

    def refused(self, route: str) -> Response:
        self.done(route, 401, None, "no valid bearer token")
        return PlainTextResponse(
            "unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    def authorized(self, request: Request, route: str) -> bool:
        return route not in self.guarded or _bearer(request, self._token)

    # --- routes -------------------------------------------------------------------------

    async def voice(self, request: Request) -> Response:
        if not self.authorized(request, "voice"):
            return self.refused("voice")
        router = self.router  # read once: a reload may replace it meanwhile
        try:
            body = dict(request.query_params) if request.method == "GET" else await _body(request)
            call = CallRequest.from_payload(body, url=_callback_url(router, request))
        except _BadBodyError as exc:
            self.done("voice", exc.status, None, str(exc))
            return PlainTextResponse(str(exc), status_code=exc.status)
        except CallRequestError as exc:
            self.done("voice", 400, None, f"bad field {exc.field}")
            return PlainTextResponse(f"{exc.field}: {exc.message}", status_code=400)
        doc = await run_in_threadpool(router.handle, call)  # a RedisStore call blocks
        outcome = _outcome(doc)
        self.done("voice", 200, call.call_sid, outcome)
        if self.metrics is not None:
            self.metrics.answers.labels(outcome).inc()
        return Response(render(doc), media_type="application/xml")

    async def session(self, request: Request) -> Response:
        return await self.event(request, "session", SessionUpdate.from_payload,
                                lambda update: update.status, self.on_session_update)  # fmt: skip

    async def cdr(self, request: Request) -> Response:
        return await self.event(request, "cdr", CallRecord.from_payload,
                                lambda record: record.disposition, self.on_cdr)  # fmt: skip

    async def event(
        self,
        request: Request,
        route: str,
        read: Callable[[dict[str, object]], _Event],
        what: Callable[[_Event], str],
        handler: Callable[[_Event], Awaitable[None]] | None,
    ) -> Response:
        """A session-update or CDR webhook: authenticate, read the body into its typed value
        and hand it to the application's ``handler``: 204, a 400 naming the field of a bad
        body, or 500 if the handler raised (the platform may send it again)."""
        if not self.authorized(request, route):
            return self.refused(route)
        try:
            event = read(await _body(request))
        except _BadBodyError as exc:
            return self.bad(route, exc.status, str(exc))
        except CallRequestError as exc:
            return self.bad(route, 400, f"{exc.field}: {exc.message}")
        if handler is not None:
            try:
                await handler(event)
            except Exception as exc:
                self.done(route, 500, event.token, f"{what(event)}; the callback raised "
                          f"{type(exc).__name__}")  # fmt: skip
                log.debug("%s callback failure", route, exc_info=True)
                return PlainTextResponse("the application failed", status_code=500)
        self.done(route, 204, event.token, what(event))
        return Response(status_code=204)

    def bad(self, route: str, status: int, message: str) -> Response:
        # The message names the field, never its value.
        self.done(route, status, None, message.partition(":")[0])
        return PlainTextResponse(message, status_code=status)

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        try:
            await run_in_threadpool(self.router.store.get, _READY_KEY)
        except Exception as exc:  # any failure of the store means not ready
            log.warning("readyz: the state store failed: %s", type(exc).__name__)
            return PlainTextResponse("the state store does not answer", status_code=503)
        return PlainTextResponse("ready")

    async def media(self, websocket: WebSocket) -> None:
        assert self.streams is not None
        await websocket.accept()
        channel = StarletteChannel(websocket)
        try:
            result = await self.streams.handle(channel)
        finally:
            await channel.close()
        outcome = result.outcome
        sid = result.call.call_sid if result.call is not None else None
        what = f"{outcome.kind} {outcome.code}" if outcome.code else outcome.kind
        log.info("media - call=%r %s", sid, what)
        if self.metrics is not None:
            self.metrics.streams.labels(outcome.kind).inc()

    async def metrics_route(self, request: Request) -> Response:
        assert self.metrics is not None
        return self.metrics.render()

    async def admin_reload(self, request: Request, admin: bytes) -> Response:
        if not _bearer(request, admin):
            return self.refused("admin/reload")
        issues = await self.reload("admin")
        if issues:
            self.done("admin/reload", 422, None, f"{len(issues)} problem(s)")
            return JSONResponse({"issues": [_issue_json(i) for i in issues]}, 422)
        self.done("admin/reload", 200, None, "loaded")
        if self.on_reload is not None:
            self.on_reload()
        return JSONResponse({"loaded": str(self.config)})

    # --- reload ---------------------------------------------------------------------------

    async def reload(self, source: str) -> list[Issue]:
        """Load and check the file; swap it in if it has no problems, else keep the old one.
        Returns the problems (none: it was swapped in)."""
        assert self.config is not None
        async with self._reloading:
            try:
                loaded = await run_in_threadpool(load_pbx, self.config)
            except PbxConfigError as exc:
                log.error("reload (%s): %s has problems; the previous one serves on",
                          source, self.config)  # fmt: skip
                for issue in exc.issues:
                    log.error("reload: %s", describe(issue))
                if self.metrics is not None:
                    self.metrics.reloads.labels("refused").inc()
                return list(exc.issues)
            self.router = self.router.with_pbx(loaded)
            if self.streams is not None:
                self.streams.assistants = dict(loaded.ai_assistants)
            log.info("reload (%s): %s loaded", source, self.config)
            if self.metrics is not None:
                self.metrics.reloads.labels("loaded").inc()
            return []

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Reload on SIGHUP while the app runs (when it has a file, in the main thread)."""
        loop = asyncio.get_running_loop()
        hup = getattr(signal, "SIGHUP", None)  # none on Windows
        pending: set[asyncio.Task[list[Issue]]] = set()

        def on_hup() -> None:
            task = loop.create_task(self.reload("SIGHUP"))
            pending.add(task)
            task.add_done_callback(pending.discard)

        installed = False
        if self.config is not None and hup is not None:
            try:
                loop.add_signal_handler(hup, on_hup)
                installed = True
            except (ValueError, RuntimeError):  # not the main thread (a TestClient's)
                pass
        try:
            yield
        finally:
            if installed and hup is not None:
                loop.remove_signal_handler(hup)


def _bearer(request: Request, expected: bytes) -> bool:
    """Whether the request carries ``Authorization: Bearer <expected>`` (constant time)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Header values arrive decoded as latin-1: encoding back gives the bytes sent.
    return hmac.compare_digest(given.strip().encode("latin-1"), expected)


def _build(
    config: Path,
    *,
    base_url: str,
    secret: str | bytes,
    store: StateStore | None,
    clock: Callable[[], dt.datetime] | None,
    engines: EngineFactory | None,
) -> tuple[Router, StreamServer | None]:
    """The router of a configuration file with its media bridge, and the `StreamServer` that
    admits that bridge's tickets (raises `PbxConfigError` for a file with problems).

    A plain ``http://`` base URL off this machine has no ``/media``: the platform streams to
    ``wss://`` only, and tickets must not cross a network in clear text. Its AI streams are
    then answered with the router's spoken error.
    """
    from providers import MediaBridge, ProviderConfigError
    from providers.media import StreamServer

    pbx = load_pbx(config)
    try:
        bridge: MediaBridge | None = MediaBridge(media_url(base_url), media_secret(secret))
    except ProviderConfigError:
        log.warning("no /media: %s is neither https:// nor on this machine", base_url)
        bridge = None
    router = Router(pbx, base_url=base_url, secret=secret, store=store, clock=clock, bridge=bridge)
    if bridge is None:
        return router, None
    streams = StreamServer(
        bridge=bridge,
        assistants=pbx.ai_assistants,
        engines=engines,
        on_outcome=router.record_outcome,
        now=lambda: router.clock().timestamp(),  # tickets are dated by the router's clock
    )
    return router, streams


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
    ``CXMLFLOW_REDIS_URL`` (default: the in-memory store), ``CXMLFLOW_METRICS`` (``1``: serve
    ``/metrics``), ``CXMLFLOW_WORKERS``, and the secrets ``CXMLFLOW_SECRET``,
    ``CXMLFLOW_WEBHOOK_TOKEN`` and ``CXMLFLOW_ADMIN_TOKEN`` (optional: ``/admin/reload``);
    without the webhook token the webhooks are open only when ``CXMLFLOW_DEV`` is ``1``.
    A usable factory for ``uvicorn --factory`` too.
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
    workers = int(env.get(ENV_WORKERS) or "1")
    return create_app(
        env.get(ENV_CONFIG) or EXAMPLE_PBX,
        base_url=base_url,
        secret=secret,
        store=RedisStore.from_url(redis_url) if redis_url else None,
        token=token,
        open_routes=() if token else AUTHENTICATED_ROUTES,
        admin_token=env.get(ENV_ADMIN_TOKEN) or None,
        metrics=env.get(ENV_METRICS) == "1",
        # Under a uvicorn supervisor, SIGHUP to it replaces every worker (each loads the file
        # anew; one that cannot is not started, its predecessor serves on).
        on_reload=_restart_workers if workers > 1 else None,
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration (``uvicorn.run(log_config=...)``) with this module's
    request lines and the media streams' ends on its handler, at INFO."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for name in (log.name, "providers.media"):
        config["loggers"][name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _restart_workers() -> None:
    os.kill(os.getppid(), signal.SIGHUP)
