"""pytest support for simulated calls: the ``simulate_call`` fixture.

Opt in from your root ``conftest.py`` with ``pytest_plugins = ["cxml.pytest_plugin"]`` (or
import the fixture into a test module); then any test can ask for it::

    def test_the_menu_rings_sales(simulate_call):
        trace = simulate_call(router.handle, to="+14155550100", scenario={"gather": ["1"]})
        assert [t.target for d in trace.of(cxml.Dialed) for t in d.targets] == ["1001"]

Streams go to in-process peers (`StreamPeers`, echoing by default), so a test never opens a socket
unless it passes ``connector=cxml.websocket_connector`` (or its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ._interpret import App, interpret
from ._interpret_peers import StreamPeers
from ._interpret_scenario import Scenario
from ._interpret_trace import CallTrace

__all__ = ["CallSimulator", "simulate_call"]


class CallSimulator:
    """Runs calls with `cxml.interpret`; keeps the traces and the stream peers it opened."""

    def __init__(self, peers: StreamPeers | None = None) -> None:
        self.peers = peers if peers is not None else StreamPeers()
        self.traces: list[CallTrace] = []

    def __call__(
        self,
        app: App,
        *,
        to: str,
        from_: str = "+12125550123",
        scenario: Scenario | Mapping[str, Any] | None = None,
        sid: str = "CA-test",
        direction: str = "inbound",
        **options: Any,
    ) -> CallTrace:
        """Simulate one call to ``to``; ``options`` go to `cxml.interpret`."""
        options.setdefault("connector", self.peers)
        call = {"CallSid": sid, "From": from_, "To": to, "Direction": direction}
        trace = interpret(app, call, scenario, **options)
        self.traces.append(trace)
        return trace


@pytest.fixture
def simulate_call() -> CallSimulator:
    """A `CallSimulator`: ``simulate_call(app, to=..., scenario=...) -> CallTrace``."""
    return CallSimulator()
