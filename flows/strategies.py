"""Hypothesis strategies for PBX configurations. Requires the hypothesis package.

``pbx_configs()`` draws configurations (as the mappings `load_pbx` reads) that load without
error: every reference resolves and no chain of fallbacks loops, because each kind of
resource only points at kinds drawn before it (assistants, then load balancers, ring groups,
menus, business hours, and DIDs last).

>>> from hypothesis import given, settings
>>> from flows.routing import load_pbx
>>> from flows.strategies import pbx_configs
>>> @settings(max_examples=20)
... @given(pbx_configs())
... def test_loads(config):
...     assert load_pbx(config).dids
>>> test_loads()
"""

from __future__ import annotations

from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without hypothesis
    raise ImportError("flows.strategies requires hypothesis: pip install hypothesis") from exc

from providers import SIP_PROVIDERS

__all__ = ["pbx_configs"]

_STATUS = st.sampled_from(["active", "active", "active", "inactive"])
_E164 = st.from_regex(r"\+1[2-9][0-9]{9}", fullmatch=True)


def _pick(targets: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(targets) if targets else st.just("hangup")


@st.composite
def pbx_configs(draw: st.DrawFn, *, max_items: int = 3) -> dict[str, Any]:
    """A PBX configuration mapping that `load_pbx` accepts."""
    config: dict[str, Any] = {"timezone": draw(st.sampled_from(["UTC", "America/New_York"]))}
    many = st.integers(1, max_items)

    extensions = {
        f"10{i:02d}": {"type": "user", "status": draw(_STATUS)} for i in range(draw(many))
    }
    if draw(st.booleans()):
        extensions["1099"] = {"type": "forward", "forward_to": draw(_E164)}
    config["extensions"] = extensions
    assistants = {
        f"agent{i}": {
            "provider": draw(st.sampled_from(SIP_PROVIDERS)),
            "config": {"phone_number": draw(_E164)},
            "status": draw(_STATUS),
        }
        for i in range(draw(many))
    }
    config["ai_assistants"] = assistants
    config["conferences"] = {"room": {"max_participants": draw(st.integers(2, 250))}}
    level = ["hangup", "conference/room"]
    level += [f"extension/{e}" for e in extensions] + [f"ai_assistant/{a}" for a in assistants]

    balancers = {
        f"lb{i}": {
            "strategy": draw(st.sampled_from(["round_robin", "priority", "percentage"])),
            "follow_through": draw(st.booleans()),
            "members": [
                {"assistant": name, "priority": draw(st.integers(1, 5)),
                 "weight": draw(st.integers(1, 5))}
                for name in draw(st.lists(st.sampled_from(sorted(assistants)), min_size=1,
                                          unique=True))
            ],
            "fallback": draw(_pick(level)),
            "status": draw(_STATUS),
        }
        for i in range(draw(st.integers(0, max_items)))
    }  # fmt: skip
    config["ai_load_balancers"] = balancers
    level += [f"ai_load_balancer/{b}" for b in balancers]

    groups = {
        f"group{i}": {
            "strategy": draw(st.sampled_from(["simultaneous", "sequential", "round_robin"])),
            "timeout": draw(st.integers(5, 300)),
            "ring_turns": draw(st.integers(1, 3)),
            "members": draw(st.lists(st.sampled_from(sorted(extensions)), min_size=1,
                                     unique=True)),
            "fallback": draw(_pick(level)),
            "status": draw(_STATUS),
        }
        for i in range(draw(st.integers(0, max_items)))
    }  # fmt: skip
    config["ring_groups"] = groups
    level += [f"ring_group/{g}" for g in groups]

    keys = st.sampled_from(["0", "1", "2", "3", "9", "*", "#", "11", "42"])
    menus = {
        f"menu{i}": {
            "prompt": draw(st.sampled_from([{"say": "Press a key."},
                                            {"play": "https://audio.example.com/menu.wav"}])),
            "timeout": draw(st.integers(1, 30)),
            "max_turns": draw(st.integers(1, 4)),
            "options": draw(st.dictionaries(keys, _pick(level), min_size=1, max_size=4)),
            "failover": draw(_pick(level)),
            "status": draw(_STATUS),
        }
        for i in range(draw(st.integers(0, max_items)))
    }  # fmt: skip
    config["ivr_menus"] = menus
    level += [f"ivr_menu/{m}" for m in menus]

    if draw(st.booleans()):
        config["business_hours"] = {
            "hours": {
                "timezone": draw(st.sampled_from(["Europe/London", "Asia/Tokyo", "UTC"])),
                "schedule": {"monday": [["09:00", "17:00"]], "friday": [["22:00", "02:00"]]},
                "exceptions": [{"date": "2026-12-25", "type": "closed"}],
                "open": draw(_pick(level)),
                "closed": draw(_pick(level)),
            }
        }
        level.append("business_hours/hours")

    numbers = draw(st.lists(_E164, min_size=1, max_size=max_items, unique=True))
    config["dids"] = {
        number: {"destination": draw(_pick(level)), "status": draw(_STATUS)} for number in numbers
    }
    return config
