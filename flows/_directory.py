"""Flows by id and by direct SIP URI: which flow answers a call to ``sip:direct.<hash>@...``.

VoIPBIN gives a flow (its ``direct_hash`` field) and an AI configuration (``POST
/ais/{id}/direct-hash-regenerate``) a direct SIP URI, ``sip:direct.<hash>@sip.voipbin.net``
(seed 003): a call to it runs that flow, or talks with that AI. `FlowDirectory` holds a
backend's flows by id (it is the ``flows=`` mapping `run` takes for ``fetch_flow``) and
resolves such a URI to its flow; `direct_hash` reads the hash out of a URI.

>>> directory = FlowDirectory(
...     {"f1": {"name": "support", "direct_hash": "c5d6e7f8a9b0",
...             "actions": [{"type": "answer"}, {"type": "talk", "option": {"text": "Hi"}}]}},
...     ais={"a092c5d9": "0d1e2f3a4b5c"},
... )
>>> [a.type for a in directory.resolve("sip:direct.c5d6e7f8a9b0@sip.voipbin.net").actions]
['answer', 'talk']
>>> directory.resolve("sip:direct.0d1e2f3a4b5c@sip.voipbin.net").to_dict()["actions"][1]
{'type': 'ai_talk', 'option': {'assistance_type': 'ai', 'assistance_id': 'a092c5d9'}}
>>> directory.resolve("sip:direct.unknown@sip.voipbin.net") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final

from cxml import Issue

from ._flow import Flow, FlowError, load_flow

__all__ = ["DIRECT_DOMAIN", "FlowDirectory", "direct_hash"]

#: The host of VoIPBIN's direct SIP URIs.
DIRECT_DOMAIN: Final = "sip.voipbin.net"
# sip:direct.<hash>@<host>[:port][;params][?headers]; scheme and host are case-insensitive.
_DIRECT: Final = re.compile(
    r"sips?:direct\.([A-Za-z0-9]+)@([A-Za-z0-9.-]+)(?::[0-9]{1,5})?(?:[;?][^\s]*)?\Z",
    re.IGNORECASE,
)


def direct_hash(uri: object, *, domain: str = DIRECT_DOMAIN) -> str | None:
    """The ``<hash>`` of a direct SIP URI ``sip:direct.<hash>@domain``; None for anything else
    (another host, another user, not a SIP URI)."""
    if not isinstance(uri, str):
        return None
    found = _DIRECT.match(uri.strip())
    if found is None or found.group(2).lower() != domain.lower():
        return None
    return found.group(1)


class FlowDirectory(Mapping[str, Flow]):
    """A backend's flows by id, resolvable by direct SIP URI.

    ``flows`` maps flow ids to flows (a `Flow` or what `load_flow` reads); a flow with a
    ``direct_hash`` field answers calls to its direct URI. ``ais`` maps AI configuration ids
    to their direct hashes: a call to one runs ``answer`` then an ``ai_talk`` with that AI.
    ``domain`` is the host of the direct URIs. Two flows or AIs with one hash, or a flow that
    does not load, raise `FlowError` (``DUPLICATE_DIRECT_HASH``, or the flow's issues).
    """

    def __init__(
        self,
        flows: Mapping[str, Flow | object] | None = None,
        *,
        ais: Mapping[str, str] | None = None,
        domain: str = DIRECT_DOMAIN,
    ) -> None:
        self.domain = domain
        self._flows: dict[str, Flow] = {}
        self._by_hash: dict[str, Flow] = {}
        owners: dict[str, str] = {}
        problems: list[Issue] = []

        def claim(hash_: object, flow: Flow, path: str) -> None:
            if not isinstance(hash_, str) or not hash_:
                problems.append(Issue("WRONG_TYPE", "error", "must be non-empty text", path))
            elif hash_ in owners:
                message = f"{hash_} is also the direct hash of {owners[hash_]}"
                problems.append(Issue("DUPLICATE_DIRECT_HASH", "error", message, path))
            else:
                owners[hash_] = path.rsplit(".", 1)[0]
                self._by_hash[hash_] = flow

        for ident, data in (flows or {}).items():
            flow = data if isinstance(data, Flow) else load_flow(data)
            self._flows[ident] = flow
            if "direct_hash" in flow.fields:
                claim(flow.fields["direct_hash"], flow, f"flows.{ident}.direct_hash")
        for ai, hash_ in (ais or {}).items():
            talk = {"assistance_type": "ai", "assistance_id": ai}
            flow = load_flow([{"type": "answer"}, {"type": "ai_talk", "option": talk}])
            claim(hash_, flow, f"ais.{ai}")
        if problems:
            raise FlowError(problems)

    def resolve(self, uri: str) -> Flow | None:
        """The flow a call to ``uri`` runs, if it is a direct URI this directory knows."""
        found = direct_hash(uri, domain=self.domain)
        return None if found is None else self._by_hash.get(found)

    def __getitem__(self, ident: str) -> Flow:
        return self._flows[ident]

    def __iter__(self) -> Iterator[str]:
        return iter(self._flows)

    def __len__(self) -> int:
        return len(self._flows)

    def __repr__(self) -> str:
        return f"FlowDirectory({len(self._flows)} flows, {len(self._by_hash)} direct URIs)"
