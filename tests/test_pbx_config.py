"""flows.routing.load_pbx: the PBX configuration, read from a mapping, YAML or JSON, checked
whole. Every problem is reported at once, each with its path (``ring_groups.sales.fallback``).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cxml import CallRequest, CxmlError, Issue
from flows.routing import EXAMPLE_PBX, Destination, Pbx, PbxConfigError, load_pbx
from flows.routing._config import MAX_STEPS

RETELL = {"provider": "retell", "config": {"phone_number": "+14155551234"}}
VAPI = {"provider": "vapi", "config": {"phone_number": "+14155552222"}}
HOURS = {"open": "hangup", "closed": "hangup"}


def issues(config: Mapping[str, Any] | Path) -> list[Issue]:
    """The problems `load_pbx` reports for ``config`` (it must report some)."""
    with pytest.raises(PbxConfigError) as caught:
        load_pbx(config)
    assert caught.value.issues, "a PbxConfigError always names its problems"
    return list(caught.value.issues)


def paths(config: Mapping[str, Any] | Path) -> list[str]:
    return [issue.path for issue in issues(config)]


def only_issue(config: Mapping[str, Any] | Path) -> Issue:
    (issue,) = issues(config)
    return issue


# --- reading --------------------------------------------------------------------------------

MAPPING: dict[str, Any] = {
    "timezone": "America/New_York",
    "dids": {"+14155550100": {"destination": "business_hours/main"}},
    "extensions": {
        "1001": {"type": "user", "name": "Alice"},
        "1002": {"type": "user", "status": "inactive"},
        "1099": {"type": "forward", "forward_to": "+12125550000"},
    },
    "ring_groups": {
        "sales": {
            "strategy": "sequential",
            "timeout": 20,
            "ring_turns": 2,
            "members": ["1001", "1002"],
            "fallback": "ai_assistant/receptionist",
        },
    },
    "ivr_menus": {
        "main": {
            "prompt": {"say": "For sales press 1"},
            "timeout": 5,
            "max_turns": 3,
            "options": {"1": "ring_group/sales", "2": "ai_assistant/support"},
            "failover": "hangup",
        },
    },
    "business_hours": {
        "main": {
            "timezone": "Europe/London",
            "schedule": {
                "monday": [["09:00", "17:00"]],
                "tuesday": [["09:00", "12:00"], ["13:00", "17:00"]],
            },
            "exceptions": [
                {"date": "2026-12-25", "type": "closed"},
                {"date": "2026-12-24", "type": "special_hours", "hours": [["09:00", "13:00"]]},
            ],
            "open": "ivr_menu/main",
            "closed": "ai_assistant/after_hours",
        },
    },
    "ai_assistants": {
        "receptionist": RETELL,
        "support": {**VAPI, "status": "inactive"},
        "after_hours": {"provider": "deepdub", "config": {"bot_id": "B1", "auth_token": "T1"}},
    },
    "ai_load_balancers": {
        "agents": {
            "strategy": "round_robin",
            "members": ["receptionist", "after_hours"],
            "fallback": "hangup",
        },
    },
    "conferences": {"standup": {"name": "daily", "max_participants": 10}},
    "campaigns": {
        "reminders": {
            "destination": "ai_assistant/receptionist",
            "caller_id": "+14155550100",
            "status": "active",
            "start_date": "2026-11-01",
            "metadata": {"purpose": "reminder"},
        },
    },
}
#: The same configuration, as a person writes it in YAML (unquoted dates, flow mappings).
YAML = """\
timezone: America/New_York
dids:
  "+14155550100": {destination: business_hours/main}
extensions:
  "1001": {type: user, name: Alice}
  "1002": {type: user, status: inactive}
  "1099": {type: forward, forward_to: "+12125550000"}
ring_groups:
  sales: {strategy: sequential, timeout: 20, ring_turns: 2,
          members: ["1001", "1002"], fallback: ai_assistant/receptionist}
ivr_menus:
  main: {prompt: {say: "For sales press 1"}, timeout: 5, max_turns: 3,
         options: {"1": ring_group/sales, "2": ai_assistant/support}, failover: hangup}
business_hours:
  main:
    timezone: Europe/London
    schedule:
      monday: [["09:00", "17:00"]]
      tuesday: [["09:00", "12:00"], ["13:00", "17:00"]]
    exceptions:
      - {date: 2026-12-25, type: closed}
      - {date: 2026-12-24, type: special_hours, hours: [["09:00", "13:00"]]}
    open: ivr_menu/main
    closed: ai_assistant/after_hours
ai_assistants:
  receptionist: {provider: retell, config: {phone_number: "+14155551234"}}
  support: {provider: vapi, config: {phone_number: "+14155552222"}, status: inactive}
  after_hours: {provider: deepdub, config: {bot_id: B1, auth_token: T1}}
ai_load_balancers:
  agents: {strategy: round_robin, members: [receptionist, after_hours], fallback: hangup}
conferences:
  standup: {name: daily, max_participants: 10}
campaigns:
  reminders:
    destination: ai_assistant/receptionist
    caller_id: "+14155550100"
    status: active
    start_date: 2026-11-01
    metadata: {purpose: reminder}
"""


def test_a_mapping_loads_into_typed_resources() -> None:
    pbx = load_pbx(MAPPING)
    assert isinstance(pbx, Pbx)
    assert pbx.timezone == "America/New_York"
    assert pbx.dids["+14155550100"].destination == Destination("business_hours", "main")
    assert pbx.did("14155550100") is pbx.dids["+14155550100"]
    assert pbx.did("+19995550000") is None
    assert not pbx.extensions["1002"].active
    group = pbx.ring_groups["sales"]
    assert (group.strategy, group.timeout, group.ring_turns) == ("sequential", 20, 2)
    assert group.members == ("1001", "1002")
    assert group.fallback == Destination("ai_assistant", "receptionist")
    menu = pbx.ivr_menus["main"]
    assert dict(menu.options) == {
        "1": Destination("ring_group", "sales"),
        "2": Destination("ai_assistant", "support"),
    }
    assert menu.failover == Destination("hangup")
    schedule = pbx.business_hours["main"].schedule
    assert schedule.timezone == "Europe/London"
    assert set(schedule.exceptions) == {dt.date(2026, 12, 25), dt.date(2026, 12, 24)}
    assert not pbx.ai_assistants["support"].active
    assert [m.assistant for m in pbx.ai_load_balancers["agents"].members] == [
        "receptionist",
        "after_hours",
    ]
    assert pbx.conferences["standup"].max_participants == 10
    assert pbx.campaigns["reminders"].status == "active"


def test_the_loaded_configuration_is_read_only() -> None:
    pbx = load_pbx(MAPPING)
    with pytest.raises(TypeError):
        pbx.dids["+15550000000"] = pbx.dids["+14155550100"]  # type: ignore[index]


def test_the_source_mapping_is_not_changed() -> None:
    before = copy.deepcopy(MAPPING)
    load_pbx(MAPPING)
    assert before == MAPPING


def test_a_yaml_file_loads_the_same_configuration(tmp_path: Path) -> None:
    path = tmp_path / "pbx.yaml"
    path.write_text(YAML, encoding="utf-8")
    assert load_pbx(path) == load_pbx(MAPPING)
    assert load_pbx(str(path)) == load_pbx(MAPPING)


def test_a_json_file_loads_the_same_configuration(tmp_path: Path) -> None:
    path = tmp_path / "pbx.json"
    path.write_text(json.dumps(MAPPING), encoding="utf-8")
    assert load_pbx(path) == load_pbx(MAPPING)


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert paths(missing) == [str(missing)]


def test_invalid_yaml_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pbx.yaml"
    path.write_text('dids:\n  "+14155550100": {destination: hangup\n', encoding="utf-8")
    issue = only_issue(path)
    assert (issue.code, issue.path, issue.line) == ("INVALID_YAML", str(path), 3)
    assert "YAML" in issue.message


def test_invalid_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "pbx.json"
    path.write_text('{"dids": {', encoding="utf-8")
    issue = only_issue(path)
    assert issue.path == str(path)
    assert "JSON" in issue.message


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pbx.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    assert paths(path) == ["$"]


def test_an_empty_configuration_is_an_empty_pbx() -> None:
    pbx = load_pbx({})
    assert pbx.timezone == "UTC"
    assert dict(pbx.dids) == {}
    assert pbx.references("ai_assistant", "anyone") == []


def test_the_example_pbx_loads() -> None:
    pbx = load_pbx(EXAMPLE_PBX)
    assert set(pbx.dids) == {"+14155550100", "+14155550199"}
    assert pbx.ring_groups["sales"].strategy == "round_robin"
    assert "reminders" in pbx.campaigns
    assert sorted(pbx.references("ai_assistant", "receptionist")) == [
        "ai_load_balancers.agents.members[0]",
        "campaigns.reminders.destination",
        "ivr_menus.main.failover",
        "ring_groups.sales.fallback",
    ]


# --- every problem at once ------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    config = {
        "timezone": "Mars/Olympus_Mons",
        "colour": "blue",
        "dids": {
            "4155550100": {"destination": "hangup"},
            "+14155550101": {"destination": "voicemail/1"},
        },
        "extensions": {"1001": {"type": "robot", "timeout": 2}},
        "ring_groups": {
            "sales": {"members": ["1001"], "ring_turns": 10, "fallback": "ai_assistant/ghost"}
        },
        "ivr_menus": {"main": {"prompt": "Hi", "options": {"1": "hangup"}, "max_turns": 0}},
        "business_hours": {
            "main": {**HOURS, "timezone": "Europe/Lundon", "schedule": {"monday": [["9", "5"]]}}
        },
        "ai_assistants": {"bot": {"provider": "retell", "config": {"phone_number": "555"}}},
        "ai_load_balancers": {"lb": {"members": [], "strategy": "weighted"}},
        "conferences": {"room": {"max_participants": 1}},
        "campaigns": {"c": {"destination": "hangup", "caller_id": "nobody"}},
    }
    found = issues(config)
    assert sorted(issue.path for issue in found) == sorted(
        [
            "timezone",
            "$.colour",
            "dids.4155550100",
            "dids.+14155550101.destination",
            "extensions.1001.type",
            "extensions.1001.timeout",
            "ring_groups.sales.ring_turns",
            "ring_groups.sales.fallback",
            "ivr_menus.main.max_turns",
            "business_hours.main.timezone",
            "business_hours.main.schedule.monday[0]",
            "ai_assistants.bot.config.phone_number",
            "ai_load_balancers.lb.members",
            "ai_load_balancers.lb.strategy",
            "conferences.room.max_participants",
            "campaigns.c.caller_id",
        ]
    )
    with pytest.raises(PbxConfigError) as caught:
        load_pbx(config)
    error = caught.value
    assert isinstance(error, CxmlError)
    assert error.code == "INVALID_PBX_CONFIG"
    text = str(error)
    assert f"{len(found)} problem(s)" in text
    for issue in found:
        assert f"  {issue.path}: {issue.message}\n" in text + "\n"


# --- unknown keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"colour": 1}, "$"),
        ({"dids": {"+14155550100": {"destination": "hangup", "colour": 1}}}, "dids.+14155550100"),
        ({"extensions": {"1001": {"colour": 1}}}, "extensions.1001"),
        (
            {"extensions": {"1001": {}}, "ring_groups": {"g": {"members": ["1001"], "colour": 1}}},
            "ring_groups.g",
        ),
        (
            {"ivr_menus": {"m": {"prompt": "Hi", "options": {"1": "hangup"}, "colour": 1}}},
            "ivr_menus.m",
        ),
        (
            {
                "ivr_menus": {
                    "m": {"prompt": {"say": "Hi", "colour": 1}, "options": {"1": "hangup"}}
                }
            },
            "ivr_menus.m.prompt",
        ),
        ({"business_hours": {"b": {**HOURS, "colour": 1}}}, "business_hours.b"),
        (
            {
                "business_hours": {
                    "b": {**HOURS, "exceptions": [{"date": "2026-12-25", "colour": 1}]}
                }
            },
            "business_hours.b.exceptions[0]",
        ),
        ({"ai_assistants": {"a": {**RETELL, "colour": 1}}}, "ai_assistants.a"),
        (
            {
                "ai_assistants": {
                    "a": {
                        "provider": "retell",
                        "config": {"phone_number": "+14155551234", "colour": 1},
                    }
                }
            },
            "ai_assistants.a.config",
        ),
        (
            {
                "ai_assistants": {"a": RETELL},
                "ai_load_balancers": {"b": {"members": ["a"], "colour": 1}},
            },
            "ai_load_balancers.b",
        ),
        (
            {
                "ai_assistants": {"a": RETELL},
                "ai_load_balancers": {"b": {"members": [{"assistant": "a", "colour": 1}]}},
            },
            "ai_load_balancers.b.members[0]",
        ),
        ({"conferences": {"c": {"colour": 1}}}, "conferences.c"),
        (
            {
                "campaigns": {
                    "c": {"destination": "hangup", "caller_id": "+14155550100", "colour": 1}
                }
            },
            "campaigns.c",
        ),
    ],
)
def test_an_unknown_key_is_reported_at_its_level(config: dict[str, Any], path: str) -> None:
    issue = only_issue(config)
    assert issue.path == f"{path}.colour"
    assert "unknown key" in issue.message or "not a setting" in issue.message


def test_an_unknown_key_in_an_opbx_style_day_is_reported() -> None:
    day = {"enabled": True, "time_ranges": [["09:00", "17:00"]], "colour": 1}
    issue = only_issue({"business_hours": {"b": {**HOURS, "schedule": {"monday": day}}}})
    assert issue.path == "business_hours.b.schedule.monday"
    assert "colour" in issue.message


@pytest.mark.parametrize("section", ["business_hours", "campaigns"])
def test_an_unknown_weekday_is_reported_not_raised(section: str) -> None:
    schedule = {"Monday": [["09:00", "17:00"]]}
    item: dict[str, Any] = (
        {**HOURS, "schedule": schedule}
        if section == "business_hours"
        else {"destination": "hangup", "caller_id": "+14155550100", "schedule": schedule}
    )
    issue = only_issue({section: {"x": item}})
    assert issue.path == f"{section}.x.schedule.Monday"


# --- types and ranges -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"timezone": 5}, "timezone"),
        ({"dids": ["+14155550100"]}, "dids"),
        ({"extensions": {"1001": "user"}}, "extensions.1001"),
        ({"extensions": {"1001": {"name": 5}}}, "extensions.1001.name"),
        ({"extensions": {"1001": {"timeout": "30"}}}, "extensions.1001.timeout"),
        ({"extensions": {"1001": {"status": "on"}}}, "extensions.1001.status"),
        (
            {"extensions": {"1001": {}}, "ring_groups": {"g": {"members": "1001"}}},
            "ring_groups.g.members",
        ),
        (
            {"extensions": {"1001": {}}, "ring_groups": {"g": {"members": [1001]}}},
            "ring_groups.g.members[0]",
        ),
        (
            {
                "extensions": {"1001": {}},
                "ring_groups": {"g": {"members": ["1001"], "timeout": 20.5}},
            },
            "ring_groups.g.timeout",
        ),
        (
            {
                "extensions": {"1001": {}},
                "ring_groups": {"g": {"members": ["1001"], "ring_turns": True}},
            },
            "ring_groups.g.ring_turns",
        ),
        (
            {
                "extensions": {"1001": {}},
                "ring_groups": {"g": {"members": ["1001"], "strategy": "random"}},
            },
            "ring_groups.g.strategy",
        ),
        ({"ivr_menus": {"m": {"prompt": "Hi", "options": ["1"]}}}, "ivr_menus.m.options"),
        ({"ivr_menus": {"m": {"prompt": 5, "options": {"1": "hangup"}}}}, "ivr_menus.m.prompt"),
        (
            {"business_hours": {"b": {**HOURS, "exceptions": "2026-12-25"}}},
            "business_hours.b.exceptions",
        ),
        (
            {
                "ai_assistants": {"a": RETELL},
                "ai_load_balancers": {"b": {"members": ["a"], "follow_through": "yes"}},
            },
            "ai_load_balancers.b.follow_through",
        ),
        ({"conferences": {"c": {"muted": "yes"}}}, "conferences.c.muted"),
        (
            {
                "campaigns": {
                    "c": {"destination": "hangup", "caller_id": "+14155550100", "metadata": ["x"]}
                }
            },
            "campaigns.c.metadata",
        ),
        (
            {
                "campaigns": {
                    "c": {"destination": "hangup", "caller_id": "+14155550100", "status": "running"}
                }
            },
            "campaigns.c.status",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_reported(config: dict[str, Any], path: str) -> None:
    assert set(paths(config)) == {path}


def ring_group(**fields: object) -> dict[str, Any]:
    return {"extensions": {"1001": {}}, "ring_groups": {"g": {"members": ["1001"], **fields}}}


def ivr_menu(**fields: object) -> dict[str, Any]:
    return {"ivr_menus": {"m": {"prompt": "Hi", "options": {"1": "hangup"}, **fields}}}


@pytest.mark.parametrize(
    ("build", "field", "low", "high"),
    [
        (ring_group, "timeout", 5, 300),
        (ring_group, "ring_turns", 1, 9),
        (ivr_menu, "timeout", 1, 30),
        (ivr_menu, "max_turns", 1, 9),
    ],
    ids=["ring_group.timeout", "ring_group.ring_turns", "ivr.timeout", "ivr.max_turns"],
)
def test_numbers_are_checked_against_their_range(
    build: Any, field: str, low: int, high: int
) -> None:
    section = "ring_groups.g" if build is ring_group else "ivr_menus.m"
    load_pbx(build(**{field: low}))
    load_pbx(build(**{field: high}))
    for wrong in (low - 1, high + 1, -5):
        issue = only_issue(build(**{field: wrong}))
        assert issue.path == f"{section}.{field}"
        assert f"from {low} to {high}" in issue.message


def test_a_ring_group_needs_one_to_fifty_distinct_members() -> None:
    extensions: dict[str, Any] = {str(n): {} for n in range(1000, 1052)}
    assert paths({"extensions": extensions, "ring_groups": {"g": {"members": []}}}) == [
        "ring_groups.g.members"
    ]
    too_many = {"members": list(extensions)[:51]}
    assert paths({"extensions": extensions, "ring_groups": {"g": too_many}}) == [
        "ring_groups.g.members"
    ]
    twice = {"members": ["1000", "1001", "1000"]}
    assert paths({"extensions": extensions, "ring_groups": {"g": twice}}) == [
        "ring_groups.g.members[2]"
    ]


# --- numbers and keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["4155550100", "+04155550100", "+1 415 555 0100", "+1234567890123456", "+1", "+"]
)
def test_a_did_must_be_e164(number: str) -> None:
    issue = only_issue({"dids": {number: {"destination": "hangup"}}})
    assert issue.path == f"dids.{number}"
    assert "E.164" in issue.message


@pytest.mark.parametrize("number", ["abc", "10O1", "12345678901", ""])
def test_an_extension_number_is_one_to_ten_digits(number: str) -> None:
    assert paths({"extensions": {number: {}}}) == [f"extensions.{number}"]


def test_unquoted_numeric_keys_in_a_mapping_are_reported() -> None:
    found = issues(
        {
            "dids": {14155550100: {"destination": "hangup"}},
            "extensions": {1001: {}},
            "ivr_menus": {"m": {"prompt": "Hi", "options": {1: "hangup", "2": "hangup"}}},
        }
    )
    assert {issue.path for issue in found} == {
        "dids.14155550100",
        "extensions.1001",
        "ivr_menus.m.options.1",
    }
    assert all("quote" in issue.message for issue in found)


def test_unquoted_numbers_and_times_in_yaml_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "pbx.yaml"
    path.write_text(
        "dids:\n"
        "  +14155550100: {destination: hangup}\n"
        "extensions:\n"
        "  1001: {type: user}\n"
        "ivr_menus:\n"
        "  m: {prompt: Hi, options: {1: hangup}}\n"
        "business_hours:\n"
        '  b: {open: hangup, closed: hangup, schedule: {monday: [["09:00", 17:00]]}}\n',
        encoding="utf-8",
    )
    found = {issue.path: issue.message for issue in issues(path)}
    assert set(found) == {
        "dids.14155550100",  # YAML reads +14155550100 as a number
        "extensions.1001",
        "ivr_menus.m.options.1",
        "business_hours.b.schedule.monday[0]",
    }
    assert "quote" in found["business_hours.b.schedule.monday[0]"]


@pytest.mark.parametrize("key", ["1a", "12345678901", "", "1 2"])
def test_an_ivr_option_key_is_one_to_ten_keypad_characters(key: str) -> None:
    assert paths(ivr_menu(options={key: "hangup"})) == [f"ivr_menus.m.options.{key}"]


@pytest.mark.parametrize("key", ["0", "9", "*", "1234567890", "*9"])
def test_keypad_option_keys_are_accepted(key: str) -> None:
    assert set(load_pbx(ivr_menu(options={key: "hangup"})).ivr_menus["m"].options) == {key}


@pytest.mark.parametrize("key", ["#", "1#", "*9#", "#1"])
def test_an_option_key_with_a_hash_is_refused_it_ends_the_callers_input(key: str) -> None:
    # The menu's Gather keeps the default finishOnKey, #: pressing it sends what came before.
    found = only_issue(ivr_menu(options={"1": "hangup", key: "hangup"}))
    assert (found.code, found.path) == ("BAD_VALUE", f"ivr_menus.m.options.{key}")
    assert "#" in found.message


# --- destinations and references ------------------------------------------------------------


@pytest.mark.parametrize(
    "destination",
    [
        "voicemail/1",
        "queue/support",
        "ring_group",
        "ring_group/",
        "Hangup",
        "hangup/now",
        42,
        ["hangup"],
    ],
)
def test_a_bad_destination_is_reported(destination: object) -> None:
    issue = only_issue({"dids": {"+14155550100": {"destination": destination}}})
    assert issue.path == "dids.+14155550100.destination"
    assert "destination" in issue.message


def test_a_did_needs_a_destination() -> None:
    issue = only_issue({"dids": {"+14155550100": {}}})
    assert (issue.path, issue.message) == ("dids.+14155550100.destination", "is required")


def test_an_empty_destination_is_reported_not_read_as_hangup(tmp_path: Path) -> None:
    issue = only_issue({"dids": {"+14155550100": {"destination": None}}})
    assert (issue.path, issue.message) == ("dids.+14155550100.destination", "is required")
    path = tmp_path / "pbx.yaml"
    path.write_text('dids:\n  "+14155550100":\n    destination:\n', encoding="utf-8")
    assert paths(path) == ["dids.+14155550100.destination"]


@pytest.mark.parametrize(
    ("config", "path", "target"),
    [
        (
            {
                "extensions": {"1001": {}},
                "ring_groups": {"sales": {"members": ["1001"], "fallback": "ai_assistant/ghost"}},
            },
            "ring_groups.sales.fallback",
            "ai_assistant/ghost",
        ),
        (
            {"dids": {"+14155550100": {"destination": "extension/9999"}}},
            "dids.+14155550100.destination",
            "extension/9999",
        ),
        (
            {"ring_groups": {"g": {"members": ["9999"]}}},
            "ring_groups.g.members[0]",
            "extension/9999",
        ),
        (ivr_menu(options={"1": "ring_group/nope"}), "ivr_menus.m.options.1", "ring_group/nope"),
        (ivr_menu(failover="ivr_menu/nope"), "ivr_menus.m.failover", "ivr_menu/nope"),
        (
            {"business_hours": {"b": {"open": "conference/nope", "closed": "hangup"}}},
            "business_hours.b.open",
            "conference/nope",
        ),
        (
            {"business_hours": {"b": {"open": "hangup", "closed": "business_hours/nope"}}},
            "business_hours.b.closed",
            "business_hours/nope",
        ),
        (
            {"ai_load_balancers": {"lb": {"members": ["ghost"]}}},
            "ai_load_balancers.lb.members[0]",
            "ai_assistant/ghost",
        ),
        (
            {
                "ai_assistants": {"a": RETELL},
                "ai_load_balancers": {"lb": {"members": ["a"], "fallback": "ai_load_balancer/x"}},
            },
            "ai_load_balancers.lb.fallback",
            "ai_load_balancer/x",
        ),
        (
            {
                "campaigns": {
                    "c": {"destination": "ai_load_balancer/nope", "caller_id": "+14155550100"}
                }
            },
            "campaigns.c.destination",
            "ai_load_balancer/nope",
        ),
        (
            {"extensions": {"2001": {"type": "forward", "forward_to": "1234"}}},
            "extensions.2001.forward_to",
            "extension/1234",
        ),
    ],
)
def test_a_reference_to_something_missing_is_reported(
    config: dict[str, Any], path: str, target: str
) -> None:
    issue = only_issue(config)
    assert issue.path == path
    assert issue.message == f"{target} does not exist"


@pytest.mark.parametrize(
    ("extension", "path"),
    [
        ({"type": "forward"}, "extensions.1001.forward_to"),
        ({"type": "user", "forward_to": "+12125550000"}, "extensions.1001.forward_to"),
        ({"type": "forward", "forward_to": "mailto:a@example.com"}, "extensions.1001.forward_to"),
        ({"type": "forward", "forward_to": "12-34"}, "extensions.1001.forward_to"),
    ],
)
def test_forwards_are_checked(extension: dict[str, Any], path: str) -> None:
    assert paths({"extensions": {"1001": extension}}) == [path]


@pytest.mark.parametrize("kind", ["extension/1001", "ring_group/g", "ivr_menu/m", "conference/c"])
def test_a_campaign_goes_to_an_assistant_a_balancer_or_hangup(kind: str) -> None:
    config = {
        **ring_group(),
        **ivr_menu(),
        "conferences": {"c": {}},
        "campaigns": {"x": {"destination": kind, "caller_id": "+14155550100"}},
    }
    issue = only_issue(config)
    assert issue.path == "campaigns.x.destination"
    assert "ai_assistant" in issue.message


def test_references_list_every_path_that_points_at_a_resource() -> None:
    config = {
        "dids": {
            "+14155550100": {"destination": "ai_assistant/receptionist"},
            "+14155550101": {"destination": "ring_group/sales"},
        },
        "extensions": {
            "1001": {},
            "1002": {},
            "1099": {"type": "forward", "forward_to": "1001"},
        },
        "ring_groups": {
            "sales": {"members": ["1001", "1002"], "fallback": "ai_assistant/receptionist"},
        },
        "ivr_menus": {
            "main": {
                "prompt": "Hi",
                "options": {"1": "ai_assistant/receptionist", "2": "ring_group/sales"},
                "failover": "ai_assistant/receptionist",
            },
        },
        "business_hours": {
            "main": {"open": "ivr_menu/main", "closed": "ai_assistant/receptionist"},
            "late": {"open": "ai_assistant/receptionist", "closed": "hangup"},
        },
        "ai_assistants": {"receptionist": RETELL, "support": VAPI},
        "ai_load_balancers": {
            "agents": {
                "members": ["support", {"assistant": "receptionist", "priority": 2}],
                "fallback": "ai_assistant/receptionist",
            },
        },
        "campaigns": {
            "reminders": {"destination": "ai_assistant/receptionist", "caller_id": "+14155550100"},
            "survey": {"destination": "ai_load_balancer/agents", "caller_id": "+14155550100"},
        },
    }
    pbx = load_pbx(config)
    assert sorted(pbx.references("ai_assistant", "receptionist")) == sorted(
        [
            "dids.+14155550100.destination",
            "ring_groups.sales.fallback",
            "ivr_menus.main.options.1",
            "ivr_menus.main.failover",
            "business_hours.main.closed",
            "business_hours.late.open",
            "ai_load_balancers.agents.members[1]",
            "ai_load_balancers.agents.fallback",
            "campaigns.reminders.destination",
        ]
    )
    assert pbx.references("ai_assistant", "support") == ["ai_load_balancers.agents.members[0]"]
    assert sorted(pbx.references("extension", "1001")) == [
        "extensions.1099.forward_to",
        "ring_groups.sales.members[0]",
    ]
    assert sorted(pbx.references("ring_group", "sales")) == [
        "dids.+14155550101.destination",
        "ivr_menus.main.options.2",
    ]
    assert pbx.references("ivr_menu", "main") == ["business_hours.main.open"]
    assert pbx.references("ai_load_balancer", "agents") == ["campaigns.survey.destination"]
    assert pbx.references("extension", "1099") == []
    assert pbx.references("ai_assistant", "nobody") == []
    assert pbx.references("hangup", "") == []
    # a copy: the caller cannot change the index
    pbx.references("ai_assistant", "support").append("x")
    assert pbx.references("ai_assistant", "support") == ["ai_load_balancers.agents.members[0]"]


# --- time zones and time ranges -------------------------------------------------------------


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "localtime", "europe/london", "EST5EDT+1", ""]
)
def test_an_invalid_top_level_timezone_is_reported(zone: str) -> None:
    issue = only_issue({"timezone": zone})
    assert issue.path == "timezone"
    assert "time zone" in issue.message


def test_a_misspelt_timezone_gets_a_hint() -> None:
    assert "Europe/London" in only_issue({"timezone": "europe/london"}).message


@pytest.mark.parametrize(
    ("config", "path"),
    [
        (
            {"business_hours": {"b": {**HOURS, "timezone": "Europe/Lundon"}}},
            "business_hours.b.timezone",
        ),
        (
            {
                "campaigns": {
                    "c": {
                        "destination": "hangup",
                        "caller_id": "+14155550100",
                        "timezone": "Nowhere",
                    }
                }
            },
            "campaigns.c.timezone",
        ),
    ],
)
def test_an_invalid_schedule_timezone_is_reported(config: dict[str, Any], path: str) -> None:
    assert paths(config) == [path]


def test_a_schedule_without_a_timezone_takes_the_pbxs() -> None:
    pbx = load_pbx({"timezone": "Asia/Tokyo", "business_hours": {"b": HOURS}})
    assert pbx.business_hours["b"].schedule.timezone == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("day", "path"),
    [
        ([["25:00", "26:00"]], "business_hours.b.schedule.monday[0]"),
        ([["09:00", "17:00"], ["09:60", "17:00"]], "business_hours.b.schedule.monday[1]"),
        (["9-5"], "business_hours.b.schedule.monday[0]"),
        ([["09:00", "09:00"]], "business_hours.b.schedule.monday[0]"),
        ([["24:00", "01:00"]], "business_hours.b.schedule.monday[0]"),
        ([["09:00"]], "business_hours.b.schedule.monday[0]"),
        ([[900, 1700]], "business_hours.b.schedule.monday[0]"),
        ("09:00-17:00", "business_hours.b.schedule.monday"),
    ],
)
def test_a_bad_time_range_is_reported_with_its_element(day: object, path: str) -> None:
    issue = only_issue({"business_hours": {"b": {**HOURS, "schedule": {"monday": day}}}})
    assert issue.path == path
    assert not issue.message.startswith("business_hours")  # the path is not repeated


@pytest.mark.parametrize(
    "day", [[["09:00", "17:00"]], ["09:00-17:00"], [{"start": "09:00", "end": "24:00"}], []]
)
def test_time_ranges_in_every_accepted_spelling(day: object) -> None:
    load_pbx({"business_hours": {"b": {**HOURS, "schedule": {"monday": day}}}})


@pytest.mark.parametrize(
    ("exception", "path"),
    [
        ({"date": "2026-02-30", "type": "closed"}, "business_hours.b.exceptions[0].date"),
        ({"type": "closed"}, "business_hours.b.exceptions[0].date"),
        ({"date": "2026-12-25", "type": "holiday"}, "business_hours.b.exceptions[0].type"),
        (
            {"date": "2026-12-24", "type": "special_hours", "hours": [["09:00", "25:00"]]},
            "business_hours.b.exceptions[0].hours[0]",
        ),
        (
            {"date": "2026-12-25", "type": "closed", "hours": [["09:00", "10:00"]]},
            "business_hours.b.exceptions[0].hours",
        ),
    ],
)
def test_a_bad_exception_is_reported(exception: dict[str, Any], path: str) -> None:
    config = {"business_hours": {"b": {**HOURS, "exceptions": [exception]}}}
    assert paths(config) == [path]


@pytest.mark.parametrize(
    ("date", "code"),
    [
        (20261225, "BAD_VALUE"),  # YAML reads an unquoted 20261225 as a number
        ("20261225", "BAD_VALUE"),  # Python's fromisoformat would take it; the format says not
        (None, "MISSING_REQUIRED"),  # date: null
        (dt.datetime(2026, 12, 25, 9, 0), "BAD_VALUE"),  # YAML's 2026-12-25 09:00
        ("25/12/2026", "BAD_VALUE"),
    ],
)
def test_an_exception_date_that_is_not_a_date_is_an_error_not_dropped(
    date: object, code: str
) -> None:
    # Dropped without a word, the holiday would stay open.
    config = {"business_hours": {"b": {**HOURS, "exceptions": [{"date": date}]}}}
    found = only_issue(config)
    assert (found.code, found.path) == (code, "business_hours.b.exceptions[0].date")


def test_exception_dates_in_yaml_are_read_unquoted_and_quoted(tmp_path: Path) -> None:
    path = tmp_path / "pbx.yaml"
    path.write_text(
        "business_hours:\n  b:\n    open: hangup\n    closed: hangup\n    exceptions:\n"
        '      - {date: 2026-12-25}\n      - {date: "2026-12-26"}\n',
        encoding="utf-8",
    )
    days = set(load_pbx(path).business_hours["b"].exceptions)
    assert days == {dt.date(2026, 12, 25), dt.date(2026, 12, 26)}
    path.write_text(path.read_text().replace('"2026-12-26"', "20261226"), encoding="utf-8")
    found = only_issue(path)
    assert (found.code, found.path) == ("BAD_VALUE", "business_hours.b.exceptions[1].date")


def test_a_key_given_twice_in_a_file_names_its_path_and_line(tmp_path: Path) -> None:
    # The last one would win: an extension "1001" silently replaced by a premium forward.
    path = tmp_path / "pbx.yaml"
    path.write_text(
        'extensions:\n  "1001": {}\n  "1001": {type: forward, forward_to: "+19005550100"}\n',
        encoding="utf-8",
    )
    found = only_issue(path)
    assert (found.code, found.path, found.line) == ("DUPLICATE_KEY", "extensions.1001", 3)
    path = tmp_path / "pbx.json"
    path.write_text('{"extensions": {"1001": {}, "1001": {"type": "forward"}}}', encoding="utf-8")
    found = only_issue(path)
    assert (found.code, found.path) == ("DUPLICATE_KEY", "extensions.1001")


def test_two_exceptions_on_one_date_are_reported() -> None:
    twice = [{"date": "2026-12-25", "type": "closed"}] * 2
    assert paths({"business_hours": {"b": {**HOURS, "exceptions": twice}}}) == [
        "business_hours.b.exceptions[1].date"
    ]


def test_business_hours_need_open_and_closed() -> None:
    assert sorted(paths({"business_hours": {"b": {}}})) == [
        "business_hours.b.closed",
        "business_hours.b.open",
    ]


def test_campaign_dates_and_schedule_are_checked() -> None:
    config = {
        "campaigns": {
            "c": {
                "destination": "hangup",
                "caller_id": "+14155550100",
                "start_date": "2026-12-01",
                "end_date": "2026-11-01",
                "schedule": {"monday": [["10:00", "25:00"]]},
            },
            "d": {"destination": "hangup", "caller_id": "+14155550100", "start_date": "soon"},
        }
    }
    assert sorted(paths(config)) == [
        "campaigns.c.end_date",
        "campaigns.c.schedule.monday[0]",
        "campaigns.d.start_date",
    ]


# --- AI assistants --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assistant", "path"),
    [
        (
            {"provider": "retell", "config": {"phone_number": "555"}},
            "ai_assistants.x.config.phone_number",
        ),
        ({"provider": "retell", "config": {}}, "ai_assistants.x.config.phone_number"),
        ({"provider": "retell"}, "ai_assistants.x.config.phone_number"),
        ({"provider": "no-such-provider"}, "ai_assistants.x.provider"),
        ({"provider": "deepdub", "config": {"auth_token": "T1"}}, "ai_assistants.x.config.bot_id"),
        ({"provider": "retell", "config": "+14155551234"}, "ai_assistants.x.config"),
        ({**RETELL, "status": "paused"}, "ai_assistants.x.status"),
        (
            {
                "provider": "websocket-endpoint",
                "config": {"websocket_url": "ws://insecure.example.com", "media": "pcm16"},
            },
            "ai_assistants.x.config.websocket_url",
        ),
    ],
)
def test_provider_config_errors_are_reported_at_their_field(
    assistant: dict[str, Any], path: str
) -> None:
    assert paths({"ai_assistants": {"x": assistant}}) == [path]


def test_every_bad_provider_setting_is_reported() -> None:
    assistant = {"provider": "deepdub", "config": {"colour": "red"}}
    assert sorted(paths({"ai_assistants": {"x": assistant}})) == [
        "ai_assistants.x.config.auth_token",
        "ai_assistants.x.config.bot_id",
        "ai_assistants.x.config.colour",
    ]


def test_a_provider_error_never_shows_a_secret() -> None:
    token = "TOKEN-very-secret-value-123"
    assistant = {"provider": "deepdub", "config": {"auth_token": token, "bot_id": 5, "extra": 1}}
    with pytest.raises(PbxConfigError) as caught:
        load_pbx({"ai_assistants": {"x": assistant}})
    assert token not in str(caught.value)
    assert token not in repr(caught.value)
    assert all(token not in issue.message for issue in caught.value.issues)


def test_a_reference_to_an_invalid_assistant_is_not_reported_as_missing() -> None:
    config = {
        "dids": {"+14155550100": {"destination": "ai_assistant/x"}},
        "ai_assistants": {"x": {"provider": "retell", "config": {"phone_number": "555"}}},
    }
    assert paths(config) == ["ai_assistants.x.config.phone_number"]


@pytest.mark.parametrize(
    ("members", "path"),
    [
        ([], "ai_load_balancers.lb.members"),
        ("a", "ai_load_balancers.lb.members"),
        (["a", "a"], "ai_load_balancers.lb.members[1]"),
        ([{"assistant": "a", "priority": 0}], "ai_load_balancers.lb.members[0].priority"),
        ([{"assistant": "a", "weight": 101}], "ai_load_balancers.lb.members[0].weight"),
        ([{"priority": 1}], "ai_load_balancers.lb.members[0]"),
    ],
)
def test_load_balancer_members_are_checked(members: object, path: str) -> None:
    config = {"ai_assistants": {"a": RETELL}, "ai_load_balancers": {"lb": {"members": members}}}
    assert paths(config) == [path]


def test_a_percentage_balancer_needs_a_weight() -> None:
    members = [{"assistant": "a", "weight": 0}]
    config = {
        "ai_assistants": {"a": RETELL},
        "ai_load_balancers": {"lb": {"strategy": "percentage", "members": members}},
    }
    assert paths(config) == ["ai_load_balancers.lb.members"]


# --- loops ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "loop"),
    [
        (
            {
                "extensions": {"1001": {}},
                "ring_groups": {
                    "a": {"members": ["1001"], "fallback": "ring_group/b"},
                    "b": {"members": ["1001"], "fallback": "ring_group/a"},
                },
            },
            {"ring_groups.a.fallback", "ring_groups.b.fallback"},
        ),
        (
            {"business_hours": {"m": {"open": "business_hours/m", "closed": "hangup"}}},
            {"business_hours.m.open"},
        ),
        (
            {
                "extensions": {"1001": {}},
                "ring_groups": {"g": {"members": ["1001"], "fallback": "business_hours/m"}},
                "business_hours": {"m": {"open": "hangup", "closed": "ring_group/g"}},
            },
            {"business_hours.m.closed", "ring_groups.g.fallback"},
        ),
        (ivr_menu(failover="ivr_menu/m"), {"ivr_menus.m.failover"}),
        (
            {
                "extensions": {"1001": {}},
                "ring_groups": {"g": {"members": ["1001"], "fallback": "ai_load_balancer/lb"}},
                "ai_assistants": {"a": RETELL},
                "ai_load_balancers": {"lb": {"members": ["a"], "fallback": "ring_group/g"}},
            },
            {"ai_load_balancers.lb.fallback", "ring_groups.g.fallback"},
        ),
        (
            {
                "extensions": {
                    "2001": {"type": "forward", "forward_to": "2002"},
                    "2002": {"type": "forward", "forward_to": "2001"},
                }
            },
            {"extensions.2001.forward_to", "extensions.2002.forward_to"},
        ),
    ],
    ids=[
        "ring-groups",
        "hours-to-itself",
        "hours-and-group",
        "ivr-failover",
        "balancer",
        "forwards",
    ],
)
def test_a_loop_of_fallbacks_is_reported_link_by_link(
    config: dict[str, Any], loop: set[str]
) -> None:
    found = issues(config)
    assert {issue.path for issue in found} == loop
    assert all("loop" in issue.message for issue in found)


def test_chains_that_end_and_loops_through_a_keypress_are_allowed() -> None:
    load_pbx(
        {
            "extensions": {"1001": {}},
            "ring_groups": {
                "a": {"members": ["1001"], "fallback": "ring_group/b"},
                "b": {"members": ["1001"], "fallback": "ivr_menu/m"},
            },
            "ivr_menus": {
                "m": {
                    "prompt": "Press 1 to try again, 9 to hear this again",
                    "options": {"1": "ring_group/a", "9": "ivr_menu/m"},
                    "failover": "hangup",
                },
            },
        }
    )


def test_a_loop_is_reported_along_with_the_other_problems() -> None:
    config = {
        "extensions": {"1001": {}},
        "ring_groups": {"g": {"members": ["1001"], "timeout": 1}},
        "business_hours": {"m": {"open": "business_hours/m", "closed": "hangup"}},
    }
    assert sorted(paths(config)) == ["business_hours.m.open", "ring_groups.g.timeout"]


# --- chains of automatic steps ---------------------------------------------------------------


def hours_chain(length: int, name: str = "h", end: str = "hangup") -> dict[str, Any]:
    """A DID into ``length`` business hours, each going on to the next open or closed; the
    last goes to ``end``: ``length`` automatic steps."""
    hops = [f"business_hours/{name}{i + 1}" for i in range(length - 1)] + [end]
    return {
        "dids": {"+14155550100": {"destination": f"business_hours/{name}0"}},
        "business_hours": {
            f"{name}{i}": {"open": hop, "closed": hop} for i, hop in enumerate(hops)
        },
    }


def test_the_longest_forward_chain_that_loads_is_followed_to_its_end() -> None:
    from cxml import render
    from flows.routing import Router

    config = forward_chain(MAX_STEPS - 1)  # the most forwards the loader lets through
    config["dids"] = {"+14155550100": {"destination": "extension/2000"}}
    router = Router(load_pbx(config), base_url="https://pbx.example.com/voice", secret="s" * 32)
    doc = router.handle(CallRequest.from_payload({"CallSid": "CA1", "To": "+14155550100"}))
    assert render(doc).endswith(f"<Number>{2000 + MAX_STEPS - 1}</Number></Dial></Response>")


def test_a_chain_the_router_follows_to_its_end_loads() -> None:
    from flows.routing import Router

    pbx = load_pbx(hours_chain(MAX_STEPS))
    router = Router(pbx, base_url="https://pbx.example.com/voice", secret="s" * 32)
    doc = router.handle(CallRequest.from_payload({"CallSid": "CA1", "To": "+14155550100"}))
    assert [type(verb).__name__ for verb in doc.children] == ["Hangup"]  # not "unavailable"


def test_a_chain_of_more_automatic_steps_than_the_router_takes_is_refused() -> None:
    found = issues(hours_chain(MAX_STEPS + 1))
    last = f"business_hours.h{MAX_STEPS}"
    assert {(i.code, i.path) for i in found} == {
        ("TOO_MANY_STEPS", f"{last}.open"),
        ("TOO_MANY_STEPS", f"{last}.closed"),
    }
    assert all("business_hours/h0" in i.message for i in found)


def group_chain(length: int, *, status: str) -> dict[str, Any]:
    hops = [f"ring_group/g{i + 1}" for i in range(length - 1)] + ["hangup"]
    groups = {f"g{i}": {"members": ["1001"], "fallback": hop} for i, hop in enumerate(hops)}
    return {"extensions": {"1001": {"status": status}}, "ring_groups": groups}


def test_fallbacks_after_a_ring_are_a_new_request_so_long_chains_load() -> None:
    # Each group rings first: its fallback comes in the Dial's callback, counting from 1.
    pbx = load_pbx(group_chain(1000, status="active"))  # and no RecursionError
    assert len(pbx.ring_groups) == 1000


def test_fallbacks_of_groups_with_nobody_to_ring_chain_at_once() -> None:
    found = issues(group_chain(1000, status="inactive"))
    assert [(i.code, i.path) for i in found] == [("TOO_MANY_STEPS", "ring_groups.g16.fallback")]


@pytest.mark.parametrize(("after", "refused"), [(MAX_STEPS - 1, False), (MAX_STEPS, True)])
def test_a_menu_starts_a_new_chain(after: int, refused: bool) -> None:
    # 16 steps to the menu; its failover comes in a later request and is step 1 again.
    config = hours_chain(MAX_STEPS, end="ivr_menu/m")
    config["business_hours"].update(hours_chain(after, name="k")["business_hours"])
    config["ivr_menus"] = {
        "m": {"prompt": "Hello", "options": {"1": "hangup"}, "failover": "business_hours/k0"}
    }
    if not refused:
        load_pbx(config)
    else:
        last = f"business_hours.k{after - 1}"
        assert sorted(paths(config)) == [f"{last}.closed", f"{last}.open"]


def test_a_loop_of_1000_fallbacks_is_reported_without_recursion() -> None:
    config = group_chain(1000, status="active")
    config["ring_groups"]["g999"]["fallback"] = "ring_group/g0"
    found = issues(config)
    assert {i.code for i in found} == {"ENDLESS_LOOP"}
    assert len(found) == 1000


def forward_chain(forwards: int) -> dict[str, Any]:
    numbers = [str(2000 + i) for i in range(forwards + 1)]
    extensions: dict[str, Any] = {
        number: {"type": "forward", "forward_to": nxt}
        for number, nxt in itertools.pairwise(numbers)
    }
    extensions[numbers[-1]] = {}
    return {"extensions": extensions}


def test_forwards_the_router_follows_load_and_one_more_is_refused() -> None:
    load_pbx(forward_chain(MAX_STEPS - 1))
    (found,) = issues(forward_chain(MAX_STEPS))
    assert (found.code, found.path) == (
        "TOO_MANY_STEPS",
        f"extensions.{2000 + MAX_STEPS - 1}.forward_to",
    )


# --- campaigns ------------------------------------------------------------------------------


def test_a_campaign_needs_a_caller_id_in_e164() -> None:
    assert paths({"campaigns": {"c": {"destination": "hangup"}}}) == ["campaigns.c.caller_id"]
    wrong = {"destination": "hangup", "caller_id": "4155550100"}
    assert paths({"campaigns": {"c": wrong}}) == ["campaigns.c.caller_id"]


def test_campaign_metadata_that_cannot_travel_is_reported_by_key() -> None:
    metadata = {"good": 1, "has space": 2, "cxmlflow-ticket": "x"}
    campaign = {"destination": "hangup", "caller_id": "+14155550100", "metadata": metadata}
    assert sorted(paths({"campaigns": {"c": campaign}})) == [
        "campaigns.c.metadata.cxmlflow-ticket",
        "campaigns.c.metadata.has space",
    ]


def test_a_campaign_without_a_schedule_may_dial_any_time_between_its_dates() -> None:
    campaign = {
        "destination": "hangup",
        "caller_id": "+14155550100",
        "status": "active",
        "timezone": "America/Los_Angeles",
        "end_date": "2026-11-30",
    }
    loaded = load_pbx({"campaigns": {"c": campaign}}).campaigns["c"]
    assert loaded.is_runnable(dt.datetime(2026, 11, 29, 3, 30, tzinfo=dt.UTC))  # Sat 19:30
    assert loaded.is_runnable(dt.datetime(2026, 12, 1, 7, 59, tzinfo=dt.UTC))  # Nov 30 23:59
    assert not loaded.is_runnable(dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC))  # Dec 1
