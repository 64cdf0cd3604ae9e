"""A relay in its own process, for crash tests:
`python -m tests.support.relay_process DATABASE_URL postgres|nats [NATS_URL]`."""

from __future__ import annotations

import asyncio
import sys

import nats

from mercato.platform.config import DatabaseSettings
from mercato.platform.db.database import Database
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import NatsTransport, PostgresTransport, Transport


async def main(url: str, transport_name: str, nats_url: str | None) -> None:
    database = Database.from_settings(DatabaseSettings(url=url))
    transport: Transport = PostgresTransport()
    if transport_name == "nats":
        assert nats_url is not None
        client = await nats.connect(nats_url)
        transport = NatsTransport(client, domains={"test"})
    await Relay(database, transport, batch_size=50, poll_interval_s=0.1).run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
