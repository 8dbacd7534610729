"""Every flow action type as data: where it can run, its options, which options name actions.

Spellings: VoIPBIN's code (``assistance_type``/``assistance_id``, ``reference_type``/
``reference_id``, ``init_prompt``) and its seed documents (``initial_prompt``, ``voice_type``,
``source_type``/``source_id``, ``real_time``) are both accepted: an option's ``aliases`` are
the other spellings of the same option. The seed's ``ai`` type (which VoIPBIN's server
rejects) is accepted as the simple request-response AI it documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import attrs

__all__ = ["ACTIONS", "RENAMED", "ActionSpec", "Opt"]

Media = Literal["rtc", "non_rtc", "any"]
OptType = Literal[
    "str", "int", "float", "bool", "id", "enum", "address", "addresses", "strings", "ints",
    "targets", "actions", "object",
]  # fmt: skip


@attrs.frozen
class Opt:
    """One option: its type, whether it is required, its values (for enums), other spellings."""

    type: OptType = "str"
    required: bool = False
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    #: For ``id`` options: the id names an action of this flow (goto, branch, conditions).
    action_ref: bool = False


@attrs.frozen
class ActionSpec:
    """An action type: ``media`` says where it runs (rtc: only with a live call)."""

    media: Media
    options: Mapping[str, Opt] = attrs.field(factory=dict)
    description: str = ""

    def option(self, name: str) -> tuple[str, Opt] | None:
        """(canonical name, spec) of an option given under any of its spellings."""
        if name in self.options:
            return name, self.options[name]
        for canonical, spec in self.options.items():
            if name in spec.aliases:
                return canonical, spec
        return None


def _enum(*values: str, required: bool = False, aliases: tuple[str, ...] = ()) -> Opt:
    return Opt("enum", required, values, aliases)


_REQ_STR = Opt("str", True)
_ANONYMOUS = _enum("yes", "no", "auto")
_CONDITION = _enum("==", "!=", ">", ">=", "<", "<=", required=True)
_FALSE_TARGET = Opt("id", True, action_ref=True)
_FLOW_ID = Opt("id")
_PROVIDER = _enum("gcp", "aws")
_ASSISTANT = {
    "assistance_type": _enum("ai", "team"),
    "assistance_id": Opt("id"),
    "ai_id": Opt("id"),  # deprecated in VoIPBIN: used when assistance_type is empty
    "initial_prompt": Opt("str", aliases=("init_prompt",)),
    "voice_type": _enum("male", "female", "neutral"),
    "engine_model": Opt("str"),
    "duration": Opt("int"),
    # The AI's built-in tools: ["all"], [] or names (providers.resolve_tool_names).
    "tool_names": Opt("strings"),
}

# fmt: off
ACTIONS: Final[Mapping[str, ActionSpec]] = {
    "ai": ActionSpec("any", _ASSISTANT, "seed spelling: a simple request-response AI"),
    "ai_summary": ActionSpec(
        "any",
        {
            "reference_type": _enum("call", "conference", "transcribe", "recording",
                                    aliases=("source_type",)),
            "reference_id": Opt("str", aliases=("source_id",)),
            "language": Opt("str"),
            "real_time": Opt("bool"),
            "on_end_flow_id": _FLOW_ID,
        },
        "summarise a call, conference, transcription or recording into "
        "${voipbin.ai_summary.content}",
    ),
    "ai_talk": ActionSpec("any", _ASSISTANT, "a real-time AI conversation"),
    "ai_task": ActionSpec("non_rtc", {k: _ASSISTANT[k] for k in ("assistance_type",
                                                                  "assistance_id", "ai_id")}),
    "amd": ActionSpec("rtc", {"machine_handle": _enum("hangup", "continue"),
                              "async": Opt("bool")}),
    "answer": ActionSpec("rtc"),
    "beep": ActionSpec("rtc"),
    "block": ActionSpec("non_rtc", description="halt until continued"),
    "branch": ActionSpec(
        "any",
        {"variable": Opt("str"), "default_target_id": Opt("id", action_ref=True),
         "target_ids": Opt("targets", True)},
    ),
    "call": ActionSpec(
        "any",
        {"source": Opt("address"), "destinations": Opt("addresses", True), "flow_id": _FLOW_ID,
         "actions": Opt("actions"), "chained": Opt("bool"), "early_execution": Opt("bool"),
         "anonymous": _ANONYMOUS},
    ),
    "case_create": ActionSpec(
        "any", {"name": Opt(), "detail": Opt(), "note": Opt(), "sync": Opt("bool")}
    ),
    "condition_call_digits": ActionSpec(
        "rtc", {"length": Opt("int"), "key": Opt(), "false_target_id": _FALSE_TARGET}
    ),
    "condition_call_status": ActionSpec(
        "rtc",
        {"status": _enum("dialing", "ringing", "progressing", "terminating", "canceling",
                         "hangup", required=True),
         "false_target_id": _FALSE_TARGET},
    ),
    "condition_datetime": ActionSpec(
        "any",
        {"condition": _CONDITION, "minute": Opt("int"), "hour": Opt("int"), "day": Opt("int"),
         "month": Opt("int"), "weekdays": Opt("ints"), "false_target_id": _FALSE_TARGET},
    ),
    "condition_variable": ActionSpec(
        "any",
        {"condition": _CONDITION, "variable": _REQ_STR,
         "value_type": _enum("string", "number", "length", required=True),
         "value_string": Opt(), "value_number": Opt("float"), "value_length": Opt("int"),
         "false_target_id": _FALSE_TARGET},
    ),
    "confbridge_join": ActionSpec("rtc", {"confbridge_id": Opt("id", True)}),
    "conference_join": ActionSpec("rtc", {"conference_id": Opt("id", True)}),
    "connect": ActionSpec(
        "rtc",
        {"source": Opt("address"), "destinations": Opt("addresses", True),
         "early_media": Opt("bool"), "relay_reason": Opt("bool"), "anonymous": _ANONYMOUS},
    ),
    "conversation_send": ActionSpec(
        "any", {"conversation_id": Opt("id", True), "text": _REQ_STR, "sync": Opt("bool")}
    ),
    "digits_receive": ActionSpec(
        "rtc", {"duration": Opt("int"), "key": Opt(), "length": Opt("int")}
    ),
    "digits_send": ActionSpec(
        "rtc", {"digits": _REQ_STR, "duration": Opt("int"), "interval": Opt("int")}
    ),
    "echo": ActionSpec("rtc", {"duration": Opt("int")}),
    "email_send": ActionSpec(
        "any",
        {"destinations": Opt("addresses", True), "subject": _REQ_STR, "content": _REQ_STR,
         "attachments": Opt("object")},
    ),
    "external_media_start": ActionSpec(
        "rtc",
        {"external_host": _REQ_STR, **{k: Opt() for k in (
            "encapsulation", "transport", "transport_data", "connection_type", "format",
            "direction_listen", "direction_speak", "data")}},
    ),
    "external_media_stop": ActionSpec("rtc"),
    "fetch": ActionSpec("any", {"event_url": _REQ_STR, "event_method": _enum("GET", "POST")}),
    "fetch_flow": ActionSpec("any", {"flow_id": Opt("id", True)}),
    "goto": ActionSpec(
        "any", {"target_id": Opt("id", True, action_ref=True), "loop_count": Opt("int")}
    ),
    "hangup": ActionSpec("rtc", {"reason": Opt(), "reference_id": Opt("id")}),
    "message_send": ActionSpec(
        "any", {"source": Opt("address"), "destinations": Opt("addresses", True),
                "text": _REQ_STR}
    ),
    "mute": ActionSpec("rtc"),
    "play": ActionSpec("rtc", {"stream_urls": Opt("strings", True)}),
    "queue_join": ActionSpec("rtc", {"queue_id": Opt("id", True)}),
    "recording_start": ActionSpec(
        "rtc",
        {"format": _enum("wav", "mp3", "ogg"), "end_of_silence": Opt("int"),
         "end_of_key": _enum("none", "any", "*", "#"), "duration": Opt("int"),
         "beep_start": Opt("bool"), "on_end_flow_id": _FLOW_ID},
    ),
    "recording_stop": ActionSpec("rtc"),
    "sleep": ActionSpec("rtc", {"duration": Opt("int", True)}),
    "stop": ActionSpec("any"),
    "stream_echo": ActionSpec("rtc", {"duration": Opt("int")}),
    "talk": ActionSpec(
        "rtc",
        {"text": _REQ_STR, "language": Opt(), "provider": _PROVIDER, "voice_id": Opt(),
         "digits_handle": _enum("", "next"), "async": Opt("bool")},
    ),
    "transcribe_recording": ActionSpec(
        "any",
        {"language": Opt(), "provider": _PROVIDER, "direction": _enum("in", "out", "both"),
         "on_end_flow_id": _FLOW_ID},
    ),
    "transcribe_start": ActionSpec(
        "rtc",
        {"language": Opt(), "provider": _PROVIDER, "direction": _enum("in", "out", "both"),
         "on_end_flow_id": _FLOW_ID, "real_time": Opt("bool")},
    ),
    "transcribe_stop": ActionSpec("rtc"),
    "variable_set": ActionSpec("any", {"key": _REQ_STR, "value": Opt("str", True)}),
    "webhook_send": ActionSpec(
        "any",
        {"sync": Opt("bool"), "uri": _REQ_STR, "method": _enum("POST", "GET", "PUT", "DELETE"),
         "data_type": Opt(), "data": Opt()},
    ),
}
# fmt: on

#: Types VoIPBIN's documents name that are not action types, and what to write instead.
RENAMED: Final[Mapping[str, str]] = {
    "agent_call": "connect",
    "chatbot_talk": "ai_talk",
    "hangup_relay": "hangup (with reference_id)",
}
