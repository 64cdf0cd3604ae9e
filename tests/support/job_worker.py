"""A job worker process for tests: `python -m tests.support.job_worker DATABASE_URL`.

It runs the platform's job runtime (jobs plus the recovery of dead workers' jobs) on the
`test` queue, with `JOBS_*` settings from the environment; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from mercato.platform.config import DatabaseSettings, Environment, Settings
from mercato.platform.db.database import Database
from mercato.platform.jobs.runtime import run_job_worker
from tests.support import jobs


async def main(url: str) -> None:
    settings = Settings(env=Environment.TEST, database=DatabaseSettings(url=url))
    database = Database.from_settings(settings.database)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await run_job_worker(
            settings, database, [(jobs.NAMESPACE, jobs.blueprint())], stop, queues=["test"]
        )
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
