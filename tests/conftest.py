"""Shared test settings: a hypothesis profile that is thorough in CI and quick by hand."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.ci import running_in_ci

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if running_in_ci() else "dev"))
