"""Outgoing mail: a real SMTP server, or a development mailbox in the database.

Mail is always sent from a job (`platform:send_mail`), never on the request path: an SMTP
outage delays mail, it does not fail a registration. Every send carries the job's effect
id (`platform.jobs.effects`), so that a job run again after a crash does not show its
reader a second copy: the dev mailbox stores a mail once per effect id, and SMTP sends the
id as the `Message-ID`, on which receivers deduplicate.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import structlog
from sqlalchemy import BigInteger, DateTime, Identity, String, Text, func
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db.database import Database
from mercato.platform.db.metadata import Base

logger = structlog.get_logger(__name__)
_DEFAULT_MESSAGE_ID_DOMAIN = "mercato.localhost"


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer(Protocol):
    async def send(self, mail: Mail, *, effect_id: uuid.UUID) -> None:
        """Send `mail`; sending it again with the same `effect_id` must not show it twice
        (where the receiver allows: see each implementation)."""
        ...


class DevMail(Base):
    """Mail "sent" in development without SMTP, readable at `GET /dev/mailbox`."""

    __tablename__ = "platform_dev_mailbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    # One row per effect: a job run again after a crash finds its mail already here.
    effect_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DevMailbox:
    """Exactly once: the insert is skipped when the effect id is already stored."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def send(self, mail: Mail, *, effect_id: uuid.UUID) -> None:
        async with self._database.session() as session, session.begin():
            stored = await session.scalar(
                insert(DevMail)
                .values(
                    effect_id=effect_id,
                    recipient=mail.to,
                    subject=mail.subject,
                    text=mail.text,
                    html=mail.html,
                )
                .on_conflict_do_nothing(index_elements=[DevMail.effect_id])
                .returning(DevMail.id)
            )
        if stored is None:
            logger.info("mail_already_delivered", effect_id=str(effect_id))


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """`smtp://user:pass@host:587?starttls=true` or `smtps://host:465` (implicit TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:587")
        query = parse_qs(parts.query)
        implicit_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            start_tls=query.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"},
        )


class SmtpMailer:
    """At least once, with a stable `Message-ID`: a server that accepted a message whose
    job was then interrupted receives it again with the same id, and receivers that
    deduplicate by Message-ID (most mailbox providers do) show it once."""

    def __init__(self, server: SmtpServer, *, sender: str, timeout_s: float = 10.0) -> None:
        self._server = server
        self._sender = sender
        self._timeout_s = timeout_s
        _, at, domain = parseaddr(sender)[1].rpartition("@")
        self._message_id_domain = domain if at and domain else _DEFAULT_MESSAGE_ID_DOMAIN

    def message_id(self, effect_id: uuid.UUID) -> str:
        """`<effect id@sender domain>`: globally unique, and the same on every resend."""
        return f"<{effect_id}@{self._message_id_domain}>"

    async def send(self, mail: Mail, *, effect_id: uuid.UUID) -> None:
        message = EmailMessage()
        message["Message-ID"] = self.message_id(effect_id)
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.text)
        if mail.html is not None:
            message.add_alternative(mail.html, subtype="html")
        await aiosmtplib.send(
            message,
            hostname=self._server.hostname,
            port=self._server.port,
            username=self._server.username,
            password=self._server.password,
            use_tls=self._server.use_tls,
            start_tls=self._server.start_tls,
            timeout=self._timeout_s,
        )
