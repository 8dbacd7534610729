"""providers: AI voice-agent providers, assistants, safe stream URLs and tools.

>>> from cxml import CallRequest, render, Response
>>> from providers import AIAssistant
>>> bot = AIAssistant("receptionist", "retell", {"phone_number": "+14155551234"})
>>> call = CallRequest.from_payload({"CallSid": "CA1", "From": "15551230000", "To": "+14155550100"})
>>> print(render(Response([bot.verb(call)])))
<?xml version="1.0" encoding="UTF-8"?>
<Response><Dial><Service provider="retell">+14155551234</Service></Dial></Response>
"""

from __future__ import annotations

from ._assistant import AIAssistant, MediaBridge, Ticket, flatten_metadata, metadata_problems
from ._conversation import ConversationEngine, Message, Reply, ScriptedEngine, ToolCall
from ._errors import (
    AssistantUnavailableError,
    BlockedAddressError,
    CodecUnavailableError,
    MediaError,
    MediaFormatError,
    MediaProtocolError,
    ProviderConfigError,
    ProviderError,
    SignatureError,
    StreamUrlError,
    ToolError,
)
from ._registry import (
    ENGINE_PROVIDERS,
    MEDIA_FORMATS,
    PROTOCOL_LABELS,
    SIP_PROVIDERS,
    ConfigField,
    Protocol,
    Provider,
    Registry,
    registry,
)
from ._signing import Signer, sign, verify
from ._urls import CALL_PLACEHOLDERS, CONFIG_PLACEHOLDERS, check_websocket_url, render_stream_url
from ._voices import ELEVENLABS_VOICES, elevenlabs_voice
from .tools import (
    BUILTIN_TOOLS,
    Function,
    FunctionResult,
    HttpPolicy,
    ToolDefinition,
    ToolEvent,
    ToolResult,
    ToolRunner,
    conversation_unsafe,
    guarded_request,
    resolve_tool_names,
)

__all__ = [
    "BUILTIN_TOOLS",
    "CALL_PLACEHOLDERS",
    "CONFIG_PLACEHOLDERS",
    "ELEVENLABS_VOICES",
    "ENGINE_PROVIDERS",
    "MEDIA_FORMATS",
    "PROTOCOL_LABELS",
    "SIP_PROVIDERS",
    "AIAssistant",
    "AssistantUnavailableError",
    "BlockedAddressError",
    "CodecUnavailableError",
    "ConfigField",
    "ConversationEngine",
    "Function",
    "FunctionResult",
    "HttpPolicy",
    "MediaBridge",
    "MediaError",
    "MediaFormatError",
    "MediaProtocolError",
    "Message",
    "Protocol",
    "Provider",
    "ProviderConfigError",
    "ProviderError",
    "Registry",
    "Reply",
    "ScriptedEngine",
    "SignatureError",
    "Signer",
    "StreamUrlError",
    "Ticket",
    "ToolCall",
    "ToolDefinition",
    "ToolError",
    "ToolEvent",
    "ToolResult",
    "ToolRunner",
    "check_websocket_url",
    "conversation_unsafe",
    "elevenlabs_voice",
    "flatten_metadata",
    "guarded_request",
    "metadata_problems",
    "registry",
    "render_stream_url",
    "resolve_tool_names",
    "sign",
    "verify",
]

# Public names report the public module, so reprs and docs do not leak private paths.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
