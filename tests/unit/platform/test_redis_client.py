"""The shared Redis client: deadlines per operation, not redis-py's socket timeout (which
wraps every write in `asyncio.wait_for`, a task per command), and one guard for all."""

from __future__ import annotations

import asyncio

import pytest

from mercato.platform.redis import OPERATION_TIMEOUT_S, RedisGuard, connect_redis


def test_the_client_has_no_socket_timeout_but_a_connect_timeout() -> None:
    pool = connect_redis("redis://127.0.0.1:6379/0").connection_pool
    connection = pool.make_connection()  # type: ignore[no-untyped-call]
    assert connection.socket_timeout is None  # redis-py 8 would default it to 5 s
    assert connection.socket_connect_timeout == OPERATION_TIMEOUT_S


async def test_a_deadline_cuts_an_operation_short() -> None:
    guard = connect_redis("redis://127.0.0.1:6379/0").guard
    with pytest.raises(TimeoutError):
        async with guard():
            await asyncio.sleep(OPERATION_TIMEOUT_S * 4)


def test_every_user_of_the_shared_client_shares_its_guard() -> None:
    client = connect_redis("redis://127.0.0.1:6379/0")
    assert RedisGuard.for_client(client) is client.guard
