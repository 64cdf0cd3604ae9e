"""The slow suite's cluster: the whole topology (`mercato cluster up`: nginx, 3 API, 2
payments, primary + replica, Redis, NATS JetStream, 2 workers), once per session, in a
data directory of its own and on ports of its own (18700+, or MERCATO_SLOW_BASE_PORT when
another session holds those). MERCATO_SLOW_KEEP_LOGS=<dir> copies the cluster's logs there
before the data directory is removed, to read what happened in a failed run."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from mercato.cluster.topology import Shape
from tests.support import cluster as clusters

SLOW_BASE_PORT = int(os.environ.get("MERCATO_SLOW_BASE_PORT", "18700"))


@pytest.fixture(scope="session")
def cluster() -> Iterator[clusters.Cluster]:
    clusters.require_engines()
    data = clusters.data_directory("slow")
    try:
        running = clusters.start(data, base_port=SLOW_BASE_PORT, shape=Shape())
    except Exception:
        clusters.remove(data)
        raise
    try:
        yield running
    finally:
        clusters.stop(running)
        if keep := os.environ.get("MERCATO_SLOW_KEEP_LOGS"):
            shutil.copytree(running.layout.logs, keep, dirs_exist_ok=True)
        clusters.remove(data)


@pytest.fixture
async def primary(cluster: clusters.Cluster) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the cluster's primary, to count effects where they are written."""
    connection = await asyncpg.connect(cluster.layout.database_url(cluster.layout.primary_port))
    try:
        yield connection
    finally:
        await connection.close()
