"""A private redis-server for the tests that need a real Redis (fixtures in conftest.py).

Without the binary (or redis-py) those tests are skipped locally and fail in CI (``CI=true``,
``CI=1``; see `tests.ci`), where it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.ci import running_in_ci
from tests.loopback import free_port, stop_process

if TYPE_CHECKING:
    import redis


def unavailable(reason: str) -> None:
    if running_in_ci():
        pytest.fail(f"{reason}; CI installs it, so this is a broken CI setup", pytrace=False)
    pytest.skip(f"{reason}; the RedisStore tests need it (CI runs them)")


def require_redis_py() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        unavailable("redis-py is not installed")


def redis_client(port: int, **options: object) -> redis.Redis:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    settings: dict[str, object] = {
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        "retry": Retry(NoBackoff(), 0),  # fail at once, not after backing off
    }
    return redis.Redis(host="127.0.0.1", port=port, **(settings | options))  # type: ignore[arg-type]


def answers_ping(port: int) -> bool:
    import redis

    client = redis_client(port, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def start_redis(workdir: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """A redis-server on 127.0.0.1 (a free port, or ``port``) answering PING; its port."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("no redis-server binary on PATH")
    require_redis_py()
    for _attempt in range(3):  # another process may take the free port before redis does
        chosen = free_port() if port is None else port
        process = subprocess.Popen(
            [str(binary), "--port", str(chosen), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            if _wait_until_ready(process, chosen):
                return process, chosen
        except BaseException:
            stop_process(process)
            raise
        stop_process(process)
    pytest.fail("redis-server did not start and answer PING in three attempts")


def _wait_until_ready(process: subprocess.Popen[bytes], port: int) -> bool:
    for _ in range(100):  # up to about 10 s
        if process.poll() is not None:
            return False  # exited: most likely the port was taken meanwhile
        if answers_ping(port):
            return True
        time.sleep(0.1)
    return False
