"""Errors of the providers package; all derive from `cxml.CxmlError` and carry a stable code.

::

    CxmlError
    └── ProviderError                 anything about providers, assistants and tools
        ├── ProviderConfigError       an assistant's configuration is wrong: ``problems``
        │                             maps each bad field to what is wrong with it
        ├── AssistantUnavailableError      the assistant cannot take calls (inactive, no bridge)
        ├── StreamUrlError            a stream URL template or value is refused
        ├── SignatureError            a signed token is tampered with, foreign or expired
        ├── ToolError                 a tool definition, its arguments or its call failed
        │   └── BlockedAddressError        an outbound request was refused by the SSRF guard
        └── MediaError                anything about call audio (providers.media)
            ├── MediaProtocolError         a stream message is bad: JSON, event, base64, size
            ├── CodecUnavailableError      a codec needs a library that is not installed
            └── MediaFormatError           audio of a shape a codec or resampler cannot take

Messages name fields, never their values: configurations hold tokens and passwords.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cxml import CxmlError

__all__ = [
    "AssistantUnavailableError",
    "BlockedAddressError",
    "CodecUnavailableError",
    "MediaError",
    "MediaFormatError",
    "MediaProtocolError",
    "ProviderConfigError",
    "ProviderError",
    "SignatureError",
    "StreamUrlError",
    "ToolError",
]


class ProviderError(CxmlError):
    """Root of the providers package's errors."""

    code: int | str = "PROVIDER_ERROR"


class ProviderConfigError(ProviderError):
    """A configuration is wrong; ``problems`` maps every bad field (by name) to the problem."""

    code: int | str = "INVALID_PROVIDER_CONFIG"

    def __init__(self, subject: str, problems: Mapping[str, str]) -> None:
        listed = "; ".join(f"{field}: {problem}" for field, problem in problems.items())
        super().__init__(f"{subject}: {listed}")
        self.problems: Mapping[str, str] = MappingProxyType(dict(problems))


class AssistantUnavailableError(ProviderError):
    """The assistant cannot take this call (it is inactive, or needs a media bridge)."""

    code: int | str = "ASSISTANT_UNAVAILABLE"


class StreamUrlError(ProviderError):
    """A stream URL template or one of its values is refused."""

    code: int | str = 11100


class SignatureError(ProviderError):
    """A signed token was changed, signed with another secret, or has expired."""

    code: int | str = "BAD_SIGNATURE"


class ToolError(ProviderError):
    """A tool's definition, its arguments or its webhook call failed."""

    code: int | str = "TOOL_ERROR"


class BlockedAddressError(ToolError):
    """An outbound request was refused: the URL or an address it resolves to is not allowed."""

    code: int | str = "BLOCKED_ADDRESS"


class MediaError(ProviderError):
    """Root of the media engine's errors (codecs, resamplers, stream protocols, bridges)."""

    code: int | str = "MEDIA_ERROR"


class MediaProtocolError(MediaError):
    """A media-stream message was refused: not JSON, no event name, missing field, bad base64,
    a payload of the wrong size, or a message out of order. The connection is closed."""

    code: int | str = "MEDIA_PROTOCOL"


class CodecUnavailableError(MediaError):
    """A codec needs a library that is not installed (Opus: ``libopus0`` and ``opuslib``)."""

    code: int | str = "CODEC_UNAVAILABLE"


class MediaFormatError(MediaError):
    """Audio of a shape that cannot be taken: an unknown encoding, a rate a codec does not
    run at, PCM16 of an odd length."""

    code: int | str = "MEDIA_FORMAT"
