"""The PBX declarations: each resource's fields and each destination kind are declared once,
and everything that must follow them does (the loader, the docs, the router, the strategies).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, Phase, find, settings

from cxml import CallRequest, Hangup, Response, Say
from flows.routing import (
    DESTINATION_KINDS,
    KINDS,
    Messages,
    Pbx,
    Router,
    declared_fields,
    fields_table,
    load_pbx,
    validate_pbx,
)
from flows.routing._config import SECTIONS
from flows.routing._router import _ROUTES
from flows.strategies import pbx_configs

DOCS = Path(__file__).parent.parent / "docs" / "routing.md"


def _docs_tables() -> dict[str, str]:
    """Each section's field table in docs/routing.md: the first table under its heading."""
    tables: dict[str, str] = {}
    section = None
    rows: list[str] = []
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#+ (.*)", line)
        if heading:
            named = [s for s in SECTIONS if f"`{s}`" in heading[1]]
            section = named[-1] if named and line.startswith("### ") else None
        elif section is not None and line.startswith("|"):
            rows.append(line)
        elif rows and section is not None:
            tables[section] = "\n".join(rows)
            section, rows = None, []
    return tables


def test_the_docs_show_each_section_s_fields_as_declared() -> None:
    tables = _docs_tables()
    assert set(tables) == set(SECTIONS)
    for section in SECTIONS:
        assert tables[section] == fields_table(section), section


def test_every_declared_key_is_read_and_any_other_reported() -> None:
    """A resource's known keys are exactly its declared ones: each is accepted, and a key the
    declaration lacks is an UNKNOWN_KEY."""
    minimal: dict[str, dict[str, Any]] = {
        "dids": {"destination": "hangup"},
        "extensions": {},
        "ring_groups": {"members": ["1001"]},
        "ivr_menus": {"prompt": "Hi", "options": {"1": "hangup"}},
        "business_hours": {"open": "hangup", "closed": "hangup"},
        "ai_assistants": {"provider": "retell", "config": {"phone_number": "+14155551234"}},
        "ai_load_balancers": {"members": ["bot"]},
        "conferences": {},
        "campaigns": {"destination": "hangup", "caller_id": "+14155550100"},
    }
    assert set(minimal) == set(SECTIONS)
    key = {"dids": "+14155550100", "extensions": "1001", "ai_assistants": "bot"}
    base: dict[str, dict[str, Any]] = {
        "extensions": {"1001": {}},
        "ai_assistants": {"bot": minimal["ai_assistants"]},
    }
    for section in SECTIONS:
        ident = key.get(section, "x")
        config = {**base, section: {**base.get(section, {}), ident: {**minimal[section], "zz": 1}}}
        (issue,) = validate_pbx(config)
        assert (issue.code, issue.path) == ("UNKNOWN_KEY", f"{section}.{ident}.zz")
        for spec in declared_fields(section):
            assert spec.key in issue.message


def test_name_is_kept_on_every_resource_that_takes_one() -> None:
    config = {
        "dids": {"+14155550100": {"destination": "hangup", "name": "Main line"}},
        "extensions": {"1001": {"name": "Alice"}},
        "ring_groups": {"g": {"members": ["1001"], "name": "Sales"}},
        "ivr_menus": {"m": {"prompt": "Hi", "options": {"1": "hangup"}, "name": "Menu"}},
        "business_hours": {"h": {"open": "hangup", "closed": "hangup", "name": "Office"}},
        "ai_assistants": {
            "bot": {"provider": "retell", "config": {"phone_number": "+14155551234"}}
        },
        "ai_load_balancers": {"lb": {"members": ["bot"], "name": "Agents"}},
        "conferences": {"c": {"name": "Room"}},
        "campaigns": {
            "k": {"destination": "hangup", "caller_id": "+14155550100", "name": "Reminders"}
        },
    }
    pbx = load_pbx(config)
    assert pbx.dids["+14155550100"].name == "Main line"
    assert pbx.extensions["1001"].name == "Alice"
    assert pbx.ring_groups["g"].name == "Sales"
    assert pbx.ivr_menus["m"].name == "Menu"
    assert pbx.business_hours["h"].name == "Office"
    assert pbx.ai_load_balancers["lb"].name == "Agents"
    assert pbx.conferences["c"].name == "Room"
    assert pbx.campaigns["k"].name == "Reminders"


def test_declared_defaults_are_the_loaded_defaults() -> None:
    """A resource given only its required fields gets every declared default."""
    pbx = load_pbx(
        {"extensions": {"1001": {}}, "ring_groups": {"g": {"members": ["1001"]}},
         "ivr_menus": {"m": {"prompt": "Hi", "options": {"1": "hangup"}}}}
    )  # fmt: skip
    for section, resource in (
        ("extensions", pbx.extensions["1001"]),
        ("ring_groups", pbx.ring_groups["g"]),
        ("ivr_menus", pbx.ivr_menus["m"]),
    ):
        for spec in declared_fields(section):
            if not spec.required:
                assert getattr(resource, spec.attr) == spec.default, (section, spec.key)


# --- destination kinds ----------------------------------------------------------------------

#: One active resource of every kind, and a DID to each.
EVERY_KIND: dict[str, Any] = {
    "extensions": {"1001": {}},
    "ring_groups": {"g": {"members": ["1001"]}},
    "ivr_menus": {"m": {"prompt": "Hi", "options": {"1": "hangup"}}},
    "business_hours": {"h": {"open": "extension/1001", "closed": "extension/1001"}},
    "ai_assistants": {"bot": {"provider": "retell", "config": {"phone_number": "+14155551234"}}},
    "ai_load_balancers": {"lb": {"members": ["bot"]}},
    "conferences": {"c": {}},
    "dids": {
        "+14155550101": {"destination": "extension/1001"},
        "+14155550102": {"destination": "ring_group/g"},
        "+14155550103": {"destination": "ivr_menu/m"},
        "+14155550104": {"destination": "business_hours/h"},
        "+14155550105": {"destination": "ai_assistant/bot"},
        "+14155550106": {"destination": "ai_load_balancer/lb"},
        "+14155550107": {"destination": "conference/c"},
        "+14155550108": {"destination": "hangup"},
    },
}


def test_the_kinds_are_declared_once() -> None:
    assert tuple(kind.name for kind in KINDS) == DESTINATION_KINDS
    pbx_fields = {f.name for f in attrs.fields(Pbx)}
    for kind in KINDS:
        if kind.name == "hangup":
            assert kind.section == ""
            continue
        assert kind.section in SECTIONS
        assert kind.section in pbx_fields
        assert kind.references <= set(DESTINATION_KINDS)
    assert load_pbx({}).references("ring_group", "g") == []
    assert next(k for k in KINDS if k.name == "ring_group").references == set(DESTINATION_KINDS)
    assert next(k for k in KINDS if k.name == "extension").references == {"extension"}


def test_the_router_routes_every_kind() -> None:
    assert set(_ROUTES) == set(DESTINATION_KINDS)
    pbx = load_pbx(EVERY_KIND)
    kinds = {str(did.destination).partition("/")[0] for did in pbx.dids.values()}
    assert kinds == set(DESTINATION_KINDS)
    router = Router(pbx, base_url="https://pbx.example.com/voice", secret="s" * 32)
    messages = Messages()
    refused = {
        Response([Say(message), Hangup()])
        for message in (messages.unavailable, messages.not_in_service)
    }
    for number in pbx.dids:
        body = {"CallSid": "CA1", "From": "+12125551234", "To": number, "Direction": "inbound"}
        assert router.handle(CallRequest.from_payload(body)) not in refused, number


def test_every_kind_is_referenced_and_tracked() -> None:
    pbx = load_pbx(EVERY_KIND)
    for did in pbx.dids.values():
        target = did.destination
        if target.kind != "hangup":
            assert f"dids.{did.number}.destination" in pbx.references(target.kind, target.id)


@pytest.mark.parametrize("kind", DESTINATION_KINDS)
def test_the_strategies_draw_every_kind(kind: str) -> None:
    """pbx_configs sends a DID to each kind of destination (and the result loads)."""

    def sends_a_did_there(config: dict[str, Any]) -> bool:
        return any(
            str(did["destination"]).partition("/")[0] == kind for did in config["dids"].values()
        )

    config = find(
        pbx_configs(),
        sends_a_did_there,
        settings=settings(
            max_examples=2000,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),  # the first example found, not shrunk: shrinking takes minutes
    )
    pbx = load_pbx(config)
    if kind != "hangup":
        (did,) = [d for d in pbx.dids.values() if d.destination.kind == kind][:1]
        assert pbx.references(kind, did.destination.id)
