"""The procrastinate app and what tasks get to work with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import procrastinate
from sqlalchemy.engine import make_url

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.mail import DevMailbox, Mailer, SmtpMailer, SmtpServer


@dataclass(frozen=True, slots=True)
class JobDependencies:
    """Handed to every task through procrastinate's `additional_context`."""

    settings: Settings
    database: Database
    mailer: Mailer


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
    database_url: str, blueprints: Iterable[tuple[str, procrastinate.Blueprint]]
) -> procrastinate.App:
    """A procrastinate app on our database, with each context's tasks under its namespace."""
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url),
        kwargs={"application_name": "mercato-worker"},
        min_size=1,
        max_size=4,
    )
    app = procrastinate.App(connector=connector)
    for namespace, blueprint in blueprints:
        app.add_tasks_from(blueprint, namespace=namespace)
    return app
