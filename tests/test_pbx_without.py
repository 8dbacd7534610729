"""Delete protection (seed 000, issue 16 item 5): `Pbx.without` and ``cxml check --remove``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cxml import CxmlError
from flows.cli import main
from flows.routing import EXAMPLE_PBX as EXAMPLE
from flows.routing import Pbx, ResourceInUseError, load_pbx
from flows.strategies import pbx_configs

EXAMPLE_PBX = str(EXAMPLE)
SECTIONS = {
    "did": "dids", "extension": "extensions", "ring_group": "ring_groups",
    "ivr_menu": "ivr_menus", "business_hours": "business_hours",
    "ai_assistant": "ai_assistants", "ai_load_balancer": "ai_load_balancers",
    "conference": "conferences", "campaign": "campaigns",
}  # fmt: skip


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(Path(EXAMPLE_PBX).read_text())
    return data


def deleted(config: dict[str, Any], kind: str, ident: str) -> dict[str, Any]:
    smaller = copy.deepcopy(config)
    del smaller[SECTIONS[kind]][ident]
    return smaller


def test_an_assistant_in_use_cannot_be_deleted_and_every_reference_is_listed() -> None:
    pbx = load_pbx(EXAMPLE_PBX)
    with pytest.raises(ResourceInUseError) as caught:
        pbx.without("ai_assistant", "receptionist")
    error = caught.value
    assert isinstance(error, CxmlError)
    assert (error.code, error.http_status, error.kind, error.id) == (
        "RESOURCE_IN_USE", 409, "ai_assistant", "receptionist",
    )  # fmt: skip
    assert error.references == (
        "ring_groups.sales.fallback",
        "ivr_menus.main.failover",
        "ai_load_balancers.agents.members[0]",
        "campaigns.reminders.destination",
    )
    assert list(error.references) == pbx.references("ai_assistant", "receptionist")
    assert all(path in error.message for path in error.references)


def test_a_resource_nothing_points_at_is_deleted_with_the_references_it_made() -> None:
    config = example()
    pbx = load_pbx(config)
    assert "dids.+14155550100.destination" in pbx.references("business_hours", "main")
    smaller = pbx.without("did", "+14155550100")
    assert "+14155550100" not in smaller.dids
    assert smaller.references("business_hours", "main") == []
    assert smaller == load_pbx(deleted(config, "did", "+14155550100"))
    assert "+14155550100" in pbx.dids  # the original is unchanged


def test_deleting_in_order_until_a_resource_is_free() -> None:
    pbx = load_pbx(EXAMPLE_PBX)
    with pytest.raises(ResourceInUseError):
        pbx.without("ai_assistant", "after_hours")
    for kind, ident in [("did", "+14155550100"), ("did", "+14155550199"),
                        ("business_hours", "main")]:  # fmt: skip
        pbx = pbx.without(kind, ident)
    freed = pbx.without("ai_assistant", "after_hours")
    assert "after_hours" not in freed.ai_assistants
    assert "after_hours" not in freed.assistant_routing


def test_a_reference_of_a_resource_to_itself_does_not_keep_it() -> None:
    config = example()
    config["ivr_menus"]["main"]["options"]["9"] = "ivr_menu/main"
    config["dids"] = {}
    config["business_hours"] = {}
    pbx = load_pbx(config)
    assert pbx.references("ivr_menu", "main") == ["ivr_menus.main.options.9"]
    smaller = pbx.without("ivr_menu", "main")
    assert "main" not in smaller.ivr_menus
    assert smaller == load_pbx(deleted(config, "ivr_menu", "main"))


def test_references_belong_to_the_resource_that_wrote_them_whatever_its_id() -> None:
    # "main.options" has a path prefix in common with "main"'s own options.
    config = example()
    config["ivr_menus"]["main.options"] = {"prompt": "Press 1", "options": {"1": "hangup"},
                                           "failover": "ivr_menu/main"}  # fmt: skip
    pbx = load_pbx(config)
    with pytest.raises(ResourceInUseError) as caught:
        pbx.without("ivr_menu", "main")
    assert "ivr_menus.main.options.failover" in caught.value.references
    smaller = pbx.without("ivr_menu", "main.options")
    assert smaller == load_pbx(deleted(config, "ivr_menu", "main.options"))
    assert "ivr_menus.main.options.failover" not in smaller.references("ivr_menu", "main")


@pytest.mark.parametrize(
    ("kind", "ident", "code"),
    [("nothing", "x", "UNKNOWN_KIND"), ("hangup", "", "UNKNOWN_KIND"),
     ("ai_assistant", "nobody", "UNKNOWN_RESOURCE"), ("did", "4155550100", "UNKNOWN_RESOURCE")],
)  # fmt: skip
def test_deleting_what_is_not_there(kind: str, ident: str, code: str) -> None:
    with pytest.raises(CxmlError) as caught:
        load_pbx(EXAMPLE_PBX).without(kind, ident)
    assert caught.value.code == code
    assert not isinstance(caught.value, ResourceInUseError)


def _resources(pbx: Pbx) -> list[tuple[str, str]]:
    return [(kind, ident) for kind, section in SECTIONS.items() for ident in getattr(pbx, section)]


@settings(max_examples=60, deadline=None)
@given(pbx_configs(), st.data())
def test_without_removes_cleanly_or_lists_exactly_the_references(
    config: dict[str, Any], data: st.DataObject
) -> None:
    pbx = load_pbx(config)
    kind, ident = data.draw(st.sampled_from(_resources(pbx)))
    try:
        smaller = pbx.without(kind, ident)
    except ResourceInUseError as exc:
        # Generated resources point only at resources drawn before them: never at themselves.
        assert list(exc.references) == pbx.references(kind, ident) != []
        return
    assert pbx.references(kind, ident) == []
    assert smaller == load_pbx(deleted(config, kind, ident))
    assert set(_resources(smaller)) == set(_resources(pbx)) - {(kind, ident)}


@settings(max_examples=30, deadline=None)
@given(pbx_configs())
def test_deleting_every_did_then_everything_in_turn_empties_the_pbx(config: dict[str, Any]) -> None:
    pbx = load_pbx(config)
    left = _resources(pbx)
    while left:  # each round deletes at least one resource: the configuration has no cycles
        free = []
        for kind, ident in left:
            try:
                pbx = pbx.without(kind, ident)
            except ResourceInUseError:
                continue
            free.append((kind, ident))
        assert free
        left = [r for r in left if r not in free]
    assert _resources(pbx) == []


# -- cxml check --remove -----------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_check_remove_lists_the_references_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "check", EXAMPLE_PBX, "--remove", "ai_assistant/receptionist")
    assert status == 1
    assert out.splitlines() == [
        f"{EXAMPLE_PBX}: ring_groups.sales.fallback: still points at ai_assistant/receptionist",
        f"{EXAMPLE_PBX}: ivr_menus.main.failover: still points at ai_assistant/receptionist",
        f"{EXAMPLE_PBX}: ai_load_balancers.agents.members[0]: still points at "
        "ai_assistant/receptionist",
        f"{EXAMPLE_PBX}: campaigns.reminders.destination: still points at "
        "ai_assistant/receptionist",
        f"{EXAMPLE_PBX}: ai_assistant/receptionist cannot be removed (RESOURCE_IN_USE)",
    ]


def test_check_remove_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(
        capsys, "check", EXAMPLE_PBX, "--remove", "did/+14155550100",
        "--remove", "did/+14155550199", "--remove", "business_hours/main",
    )  # fmt: skip
    assert status == 0
    assert out.splitlines()[-1] == f"{EXAMPLE_PBX}: business_hours/main can be removed"


@pytest.mark.parametrize(
    ("resource", "status", "code"),
    [("ai_assistant/nobody", 1, "UNKNOWN_RESOURCE"), ("robot/x", 1, "UNKNOWN_KIND")],
)
def test_check_remove_of_what_is_not_there(
    capsys: pytest.CaptureFixture[str], resource: str, status: int, code: str
) -> None:
    got, out, err = cli(capsys, "check", EXAMPLE_PBX, "--remove", resource)
    assert (got, out) == (status, "")
    assert f"error {code}" in err


def test_check_remove_needs_kind_and_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check", EXAMPLE_PBX, "--remove", "receptionist"])
    assert caught.value.code == 2
    assert "is not kind/id" in capsys.readouterr().err


def test_check_remove_of_a_broken_configuration_reports_its_problems(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "pbx.yaml"
    broken.write_text("dids: {'+14155550100': {destination: ring_group/none}}\n")
    status, out, _ = cli(capsys, "check", str(broken), "--remove", "did/+14155550100")
    assert status == 1
    assert "ring_group/none does not exist" in out
