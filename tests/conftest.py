"""Shared test settings: a hypothesis profile that is thorough in CI and quick by hand, and
the session's private redis-server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from flows.routing._state import RedisStore
from tests.ci import running_in_ci
from tests.loopback import stop_process
from tests.redis_server import redis_client, start_redis

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if running_in_ci() else "dev"))


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private redis-server for this test session; its port."""
    process, port = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield port
    finally:
        stop_process(process)


@pytest.fixture
def redis_store(redis_port: int) -> Iterator[RedisStore]:
    """A RedisStore with a prefix of its own, so tests never see each other's keys."""
    client = redis_client(redis_port)
    try:
        yield RedisStore(client, prefix=f"test:{uuid.uuid4().hex}:")
    finally:
        client.close()
