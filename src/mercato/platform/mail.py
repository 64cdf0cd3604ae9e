"""Outgoing mail: a real SMTP server, or a development mailbox in the database.

Mail is always sent from a job (`platform:send_mail`), never on the request path: an SMTP
outage delays mail, it does not fail a registration.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from sqlalchemy import BigInteger, DateTime, Identity, String, Text, func, insert
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db.database import Database
from mercato.platform.db.metadata import Base


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class DevMail(Base):
    """Mail "sent" in development without SMTP, readable at `GET /dev/mailbox`."""

    __tablename__ = "platform_dev_mailbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DevMailbox:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def send(self, mail: Mail) -> None:
        async with self._database.session() as session, session.begin():
            await session.execute(
                insert(DevMail).values(
                    recipient=mail.to, subject=mail.subject, text=mail.text, html=mail.html
                )
            )


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
    def __init__(self, server: SmtpServer, *, sender: str, timeout_s: float = 10.0) -> None:
        self._server = server
        self._sender = sender
        self._timeout_s = timeout_s

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
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
