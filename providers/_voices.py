"""The ElevenLabs voices VoIPBIN's built-in AI speaks with, per language and gender (seed 001).

`elevenlabs_voice` picks one: the ``voipbin.tts.elevenlabs.voice_id`` override when a flow set
it, else the table's voice for the language (its primary subtag when the region is not listed:
``de-AT`` speaks German) and gender, else English, the table's default.

>>> elevenlabs_voice("ja-JP", "male")
'Mv8AjrYZCBkdsmDHNwcB'
>>> elevenlabs_voice("de-AT", "female")
'nF7t9cuYo0u3kuVI9q4B'
>>> elevenlabs_voice("xx", "neutral", override="my-voice")
'my-voice'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

__all__ = ["ELEVENLABS_VOICES", "OVERRIDE_VARIABLE", "elevenlabs_voice"]

Gender = Literal["male", "female", "neutral"]

#: The flow variable that replaces the table's choice.
OVERRIDE_VARIABLE: Final = "voipbin.tts.elevenlabs.voice_id"

# fmt: off
#: Language tag -> (male, female, neutral) voice ids, as the seed lists them.
ELEVENLABS_VOICES: Final[Mapping[str, tuple[str, str, str]]] = {
    "en": ("21m00Tcm4TlvDq8ikWAM", "EXAVITQu4vr4xnSDxMaL", "EXAVITQu4vr4xnSDxMaL"),
    "ja": ("Mv8AjrYZCBkdsmDHNwcB", "PmgfHCGeS5b7sH90BOOJ", "PmgfHCGeS5b7sH90BOOJ"),
    "zh": ("MI36FIkp9wRP7cpWKPTl", "ZL9dtgFhmkTzAHUUtQL8", "ZL9dtgFhmkTzAHUUtQL8"),
    "de": ("uM8iMoqaSe1eDaJiWfxf", "nF7t9cuYo0u3kuVI9q4B", "nF7t9cuYo0u3kuVI9q4B"),
    "fr": ("IPgYtHTNLjC7Bq7IPHrm", "SmWACbi37pETyxxMhSpc", "SmWACbi37pETyxxMhSpc"),
    "hi": ("IvLWq57RKibBrqZGpQrC", "MF4J4IDTRo0AxOO4dpFR", "MF4J4IDTRo0AxOO4dpFR"),
    "ko": ("nbrxrAz3eYm9NgojrmFK", "AW5wrnG1jVizOYY7R1Oo", "AW5wrnG1jVizOYY7R1Oo"),
    "it": ("iLVmqjzCGGvqtMCk6vVQ", "b8jhBTcGAq4kQGWmKprT", "b8jhBTcGAq4kQGWmKprT"),
    "es": ("JjHBC66wF58p4ogebCNA", "UOIqAnmS11Reiei1Ytkc", "UOIqAnmS11Reiei1Ytkc"),
    "pt": ("NdHRjGnnDKGnnm2c19le", "CZD4BJ803C6T0alQxsR7", "CZD4BJ803C6T0alQxsR7"),
    "nl": ("G53Wkf3yrsXvhoQsmslL", "YUdpWWny7k5yb4QCeweX", "YUdpWWny7k5yb4QCeweX"),
    "ru": ("qJBO8ZmKp4te7NTtYgzz", "ymDCYd8puC7gYjxIamPt", "ymDCYd8puC7gYjxIamPt"),
    # The seed names Farah twice with two ids; the female column's id is kept as listed.
    "ar": ("s83SAGdFTflAwJcAV81K", "EXAVITQu4vr4xnSDxMaL", "4wf10lgibMnboGJGCLrP"),
    "pl": ("H5xTcsAIeS5RAykjz57a", "W0sqKm1Sfw1EzlCH14FQ", "W0sqKm1Sfw1EzlCH14FQ"),
}
# fmt: on
_COLUMN: Final = {"male": 0, "female": 1, "neutral": 2}


def elevenlabs_voice(
    language: str | None, gender: str | None = None, *, override: str | None = None
) -> str:
    """The voice id for ``language`` (BCP-47) and ``gender`` (male, female, neutral; default
    female, the seed's default column for English); ``override`` wins when it is not empty."""
    if override:
        return override
    primary = (language or "en").split("-", 1)[0].lower()
    voices = ELEVENLABS_VOICES.get(primary, ELEVENLABS_VOICES["en"])
    return voices[_COLUMN.get(gender or "female", 1)]
