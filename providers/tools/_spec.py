"""The OpenAI-style tool spec shared by webhook functions and built-in tools."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["tool_spec"]


def tool_spec(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``{"type": "function", "function": {name, description, parameters}}``, a fresh copy."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": copy.deepcopy(dict(parameters)),
        },
    }
