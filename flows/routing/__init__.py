"""flows.routing: the PBX router — DIDs, extensions, ring groups, IVR menus, business hours,
AI assistants and load balancers, conferences, campaigns.

>>> import datetime as dt
>>> from cxml import CallRequest, render
>>> from flows.routing import EXAMPLE_PBX, Router, load_pbx
>>> pbx = load_pbx(EXAMPLE_PBX)
>>> monday_night = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)
>>> router = Router(pbx, base_url="https://pbx.example.com/voice", secret="a" * 32,
...                 clock=lambda: monday_night)
>>> call = CallRequest.from_payload({"CallSid": "CA1", "From": "+12125551234",
...                                  "To": "+14155550100", "Direction": "inbound"})
>>> print(render(router.handle(call), pretty=True), end="")  # doctest: +ELLIPSIS
<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect action="https://pbx.example.com/voice?cxmlflow=eyJ...">
    <Stream url="wss://bot.deepdub.dev/ws/example-bot/example-token?session=CA1&amp;from=%2B12125551234&amp;to=%2B14155550100"/>
  </Connect>
  <Redirect>https://pbx.example.com/voice?cxmlflow=eyJ...</Redirect>
</Response>
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from ._config import (
    DESTINATION_KINDS,
    KINDS,
    AiLoadBalancer,
    AssistantRouting,
    BusinessHours,
    Campaign,
    ConferenceRoom,
    Destination,
    DestinationKind,
    Did,
    Extension,
    Field,
    IvrMenu,
    LbMember,
    Pbx,
    PbxConfigError,
    Prompt,
    ResourceInUseError,
    RingGroup,
    declared_fields,
    fields_table,
    load_pbx,
    validate_pbx,
)
from ._graph import graph
from ._hours import DateException, Schedule, TimeRange, check_timezone, parse_ranges
from ._outcomes import outcome_recorder
from ._router import STATE_PARAMETER, Messages, Router
from ._state import MemoryStore, RedisStore, StateStore, StateStoreError

#: The example PBX shipped with cxmlflow (what ``cxml route`` uses without a configuration).
EXAMPLE_PBX: Final = Path(__file__).with_name("example_pbx.yaml")

__all__ = [
    "DESTINATION_KINDS",
    "EXAMPLE_PBX",
    "KINDS",
    "STATE_PARAMETER",
    "AiLoadBalancer",
    "AssistantRouting",
    "BusinessHours",
    "Campaign",
    "ConferenceRoom",
    "DateException",
    "Destination",
    "DestinationKind",
    "Did",
    "Extension",
    "Field",
    "IvrMenu",
    "LbMember",
    "MemoryStore",
    "Messages",
    "Pbx",
    "PbxConfigError",
    "Prompt",
    "RedisStore",
    "ResourceInUseError",
    "RingGroup",
    "Router",
    "Schedule",
    "StateStore",
    "StateStoreError",
    "TimeRange",
    "check_timezone",
    "declared_fields",
    "fields_table",
    "graph",
    "load_pbx",
    "outcome_recorder",
    "parse_ranges",
    "validate_pbx",
]
