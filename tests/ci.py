"""Whether the tests run in CI: ``CI`` set to anything but an explicit no.

CI services set ``CI=true``; ``.ci/run`` sets ``CI=1`` when nothing else has. ``CI=0`` or
``CI=false`` (or an empty value) mean a run by hand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_NO = frozenset({"", "0", "false", "no", "off"})


def running_in_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """True when ``environ["CI"]`` is set to a value other than an explicit no."""
    return environ.get("CI", "").strip().lower() not in _NO
