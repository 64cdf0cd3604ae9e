"""A job worker process for tests: `python -m tests.support.job_worker DATABASE_URL`."""

from __future__ import annotations

import asyncio
import sys

from mercato.platform.config import DatabaseSettings, Environment, Settings
from mercato.platform.db.database import Database
from mercato.platform.jobs.runtime import JobDependencies, create_job_app, mailer_for
from tests.support import jobs


async def main(url: str) -> None:
    settings = Settings(env=Environment.TEST, database=DatabaseSettings(url=url))
    database = Database.from_settings(settings.database)
    app = create_job_app(url, [(jobs.NAMESPACE, jobs.blueprint())])
    dependencies = JobDependencies(
        settings=settings, database=database, mailer=mailer_for(settings, database)
    )
    async with app.open_async():
        await app.run_worker_async(
            queues=["test"],
            install_signal_handlers=True,
            additional_context={"dependencies": dependencies},
            update_heartbeat_interval=0.2,
            stalled_worker_timeout=1,
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
