"""providers.media: call audio between the platform's media stream and an AI engine.

Codecs (G.711 mu-law and A-law bit-exact with ``audioop``, PCM16, optional Opus), stateful
resamplers, stream protocols (the platform's Twilio-style media stream, SmartPBX's AI
provider protocol), the `Engine` protocol with the `Agent` pipeline and ready engines, and
the bridges: `StreamServer` (what ``<Connect><Stream>`` reaches) and `ProviderBridge`
(onward to a remote AI endpoint).

Messages (JSON text frames; full shapes in `providers.media.protocols.platform` and
`providers.media.protocols.smartpbx`):

- platform -> app: ``connected {protocol, version}``; ``start {streamSid, start: {streamSid,
  callSid, accountSid?, session?, tracks, customParameters, mediaFormat?}}`` (no mediaFormat,
  as Cloudonix: mu-law 8 kHz); ``media {media: {payload: base64 mu-law, track?, chunk?,
  timestamp?}}``; ``dtmf {dtmf: {digit}}``; ``mark {mark: {name}}``; ``stop {stop: {callSid}}``.
- app -> platform: ``media {streamSid, media: {payload}}``, ``mark {streamSid, mark: {name}}``,
  ``clear {streamSid}``.
- SmartPBX, to the endpoint: ``start {start: {callId, callerIdNumber, calleeIdNumber,
  accountId, mediaFormat: {encoding, sampleRate}}}``, ``media {media: {payload}}``; from it:
  ``media {callId?, accountId?, media: {payload}}`` (``connected``/``stop`` tolerated).

A call simulator plays the platform through a connector, ``await connector(url,
parameters)`` -> a stream with async ``send(text)``, ``receive() -> text | None`` (None once
the app ended the stream) and ``close()``: `StreamServer.connector` (tickets checked as on the
network) or `StreamServer.for_engine` (one engine, no ticket, unpaced).

An engine served in process, with the platform played by hand:

>>> import asyncio, json
>>> from providers.media import EchoEngine, PlatformPeer, StreamServer
>>> async def call() -> tuple[str, str, None]:
...     connect = StreamServer.for_engine(EchoEngine())
...     stream = await connect("wss://bridge.example.com/media", {})
...     peer = PlatformPeer("MZ1", "CA1")
...     for message in (peer.connected(), peer.start(), peer.media(b"\\xff" * 160)):
...         await stream.send(message)
...     echoed = json.loads(await stream.receive())
...     await stream.close()  # the platform hangs up; close waits for the session to end
...     return echoed["event"], echoed["streamSid"], await stream.receive()
>>> asyncio.run(call())
('media', 'MZ1', None)
"""

from __future__ import annotations

from ._engines import (
    EngineRegistry,
    EngineUnavailableError,
    Plan,
    ServiceSpec,
    engine_for,
    engines,
    plan_engine,
    register_engine,
    services_markdown,
)
from ._in_process import InProcessConnector
from ._outcome import Outcome, OutcomeError
from ._playout import VirtualClock
from ._session import StreamResult
from ._websocket import connect_websocket
from .codecs import (
    Codec,
    alaw_from_pcm,
    encoding_of,
    open_codec,
    pcm_from_alaw,
    pcm_from_ulaw,
    ulaw_from_pcm,
)
from .engine import (
    Agent,
    BaseEngine,
    DtmfEngine,
    EchoEngine,
    Engine,
    Output,
    PlaybackEngine,
    ScriptedSpeechToText,
    SpeechToText,
    StreamCall,
    TextToSpeech,
    ToneTextToSpeech,
)
from .pipecat import PipecatEngine, PipecatUnavailableError
from .protocols import (
    PlatformPeer,
    SmartPbxClient,
    SmartPbxEndpoint,
    StreamProtocol,
    Unknown,
)
from .provider_bridge import ProviderBridge, e164
from .realtime import OpenAIRealtime
from .resample import Framer, Resampler
from .server import StreamServer
from .vad import EnergyDetector, VoiceDetector, level

__all__ = [
    "Agent",
    "BaseEngine",
    "Codec",
    "DtmfEngine",
    "EchoEngine",
    "EnergyDetector",
    "Engine",
    "EngineRegistry",
    "EngineUnavailableError",
    "Framer",
    "InProcessConnector",
    "OpenAIRealtime",
    "Outcome",
    "OutcomeError",
    "Output",
    "PipecatEngine",
    "PipecatUnavailableError",
    "Plan",
    "PlatformPeer",
    "PlaybackEngine",
    "ProviderBridge",
    "Resampler",
    "ScriptedSpeechToText",
    "ServiceSpec",
    "SmartPbxClient",
    "SmartPbxEndpoint",
    "SpeechToText",
    "StreamCall",
    "StreamProtocol",
    "StreamResult",
    "StreamServer",
    "TextToSpeech",
    "ToneTextToSpeech",
    "Unknown",
    "VirtualClock",
    "VoiceDetector",
    "alaw_from_pcm",
    "connect_websocket",
    "e164",
    "encoding_of",
    "engine_for",
    "engines",
    "level",
    "open_codec",
    "pcm_from_alaw",
    "pcm_from_ulaw",
    "plan_engine",
    "register_engine",
    "services_markdown",
    "ulaw_from_pcm",
]
