"""providers.media: call audio between the platform's media stream and an AI engine."""

from __future__ import annotations
