"""The shared Redis client: deadlines per operation, not redis-py's socket timeout (which
wraps every write in `asyncio.wait_for`, a task per command)."""

from __future__ import annotations

import asyncio

import pytest

from mercato.platform.redis import OPERATION_TIMEOUT_S, connect_redis, deadline


def test_the_client_has_no_socket_timeout_but_a_connect_timeout() -> None:
    pool = connect_redis("redis://127.0.0.1:6379/0").connection_pool
    connection = pool.make_connection()  # type: ignore[no-untyped-call]
    assert connection.socket_timeout is None  # redis-py 8 would default it to 5 s
    assert connection.socket_connect_timeout == OPERATION_TIMEOUT_S


async def test_a_deadline_cuts_an_operation_short() -> None:
    with pytest.raises(TimeoutError):
        async with deadline():
            await asyncio.sleep(OPERATION_TIMEOUT_S * 4)
