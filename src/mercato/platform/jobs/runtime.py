"""The procrastinate app and what tasks get to work with."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.engine import make_url

from mercato.platform.aio import wait_first
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.jobs.recovery import StalledJobRecovery
from mercato.platform.mail import DevMailbox, Mailer, SmtpMailer, SmtpServer
from mercato.platform.observability import tracing

# procrastinate is imported by the functions that build or run its app (workers): an API
# process imports this module for `dependencies_of` and the mailer, and only writes job
# rows (`queue.py`).
if TYPE_CHECKING:
    import procrastinate
    from procrastinate.app import WorkerOptions

    from mercato.platform.runtime import Runtime

logger = structlog.get_logger(__name__)
_MAX_RESTART_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class JobDependencies:
    """Handed to every task through procrastinate's `additional_context`."""

    settings: Settings
    database: Database
    mailer: Mailer
    # The process's runtime, for tasks that use a module's services (its gateway, caches).
    runtime_or_none: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self.runtime_or_none is None:
            raise LookupError("this job worker runs without a runtime")
        return self.runtime_or_none


def dependencies_of(context: procrastinate.JobContext) -> JobDependencies:
    dependencies = context.additional_context["dependencies"]
    assert isinstance(dependencies, JobDependencies)
    return dependencies


def mailer_for(settings: Settings, database: Database) -> Mailer:
    if settings.mail.smtp_url is None:
        return DevMailbox(database)
    server = SmtpServer.from_url(settings.mail.smtp_url.get_secret_value())
    return SmtpMailer(server, sender=settings.mail.sender, timeout_s=settings.mail.timeout_s)


def libpq_url(database_url: str) -> str:
    """procrastinate talks psycopg: the same URL without SQLAlchemy's driver suffix."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def create_job_app(
    database_url: str,
    blueprints: Iterable[tuple[str, procrastinate.Blueprint]],
    *,
    schema: str | None = None,
) -> procrastinate.App:
    """A procrastinate app on our database, with each context's tasks under its namespace
    (and a service's own job queue, in its schema, when `schema` names one)."""
    import procrastinate

    kwargs: dict[str, str] = {"application_name": "mercato-worker"}
    if schema is not None:
        kwargs["options"] = f"-c search_path={schema}"
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url),
        kwargs=kwargs,
        min_size=1,
        max_size=4,
    )
    app = procrastinate.App(connector=connector)
    for namespace, blueprint in blueprints:
        app.add_tasks_from(blueprint, namespace=namespace)
    return app


async def run_job_worker(
    settings: Settings,
    database: Database,
    blueprints: Iterable[tuple[str, procrastinate.Blueprint]],
    stop: asyncio.Event,
    *,
    queues: Sequence[str] | None = None,
    runtime: Runtime | None = None,
) -> None:
    """Run jobs and the recovery of dead workers' jobs until `stop` is set.

    On stop, running jobs get `JOBS_SHUTDOWN_TIMEOUT_S` to finish; the worker then
    unregisters, so that nobody waits for its heartbeat to expire.
    """
    assert settings.database.url is not None
    jobs = settings.jobs
    job_app = create_job_app(
        settings.database.url.get_secret_value(),
        blueprints,
        schema=settings.database.schema_name,
    )
    dependencies = JobDependencies(
        settings=settings,
        database=database,
        mailer=mailer_for(settings, database),
        runtime_or_none=runtime,
    )
    recovery = StalledJobRecovery(
        database, stalled_after_s=jobs.stalled_worker_timeout_s, interval_s=jobs.recovery_interval_s
    )
    options: WorkerOptions = {
        "concurrency": jobs.concurrency,
        "install_signal_handlers": False,
        "additional_context": {"dependencies": dependencies},
        "shutdown_graceful_timeout": jobs.shutdown_timeout_s,
        "stalled_worker_timeout": jobs.stalled_worker_timeout_s,
        "update_heartbeat_interval": jobs.heartbeat_interval_s,
        "fetch_job_polling_interval": jobs.poll_interval_s,
    }
    if queues is not None:
        options["queues"] = list(queues)
    if tracing.enabled():
        options["worker_middleware"] = [tracing.job_span]
    async with job_app.open_async():
        recovering = asyncio.create_task(recovery.run(stop))
        try:
            backoff_s = 1.0
            while not stop.is_set():
                ended = await _work_until(job_app, options, stop)
                if stop.is_set():
                    break
                # procrastinate stops by itself when a side task fails (the heartbeat, the
                # listener), or when its worker row was pruned after a long stall of this
                # process: start again (a new registration) rather than idle unnoticed.
                logger.error(
                    "job_worker_stopped_unexpectedly", reason=ended, restart_in_s=backoff_s
                )
                await wait_first(stop, seconds=backoff_s)
                backoff_s = min(backoff_s * 2, _MAX_RESTART_WAIT_S)
        finally:
            recovering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovering


async def _work_until(
    job_app: procrastinate.App, options: WorkerOptions, stop: asyncio.Event
) -> str:
    """Run procrastinate's worker until `stop` (graceful) or until it ends by itself; what
    ended it, in the latter case."""
    worker = asyncio.create_task(job_app.run_worker_async(**options))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not worker.done():
            worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({worker})
    if worker.cancelled():
        return "cancelled"
    error = worker.exception()
    return f"{type(error).__name__}: {error}" if error is not None else "returned"
