"""The mails identity sends (plain text), and the links in them (`MailLinks`).

Links point at the pages that finish each step (`IDENTITY_FRONTEND_URL`: verify the
address, choose a new password); without a frontend, in development, at the API's own
development pages (`/dev/verify-email`, ...), which complete the step in a browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from mercato.identity.config import IdentitySettings
from mercato.platform.mail import Mail

DEV_PAGES = "/dev"


@dataclass(frozen=True, slots=True)
class MailLinks:
    """The addresses identity's mails link to: `pages` is where the pages that finish a
    step live (a frontend, or the API's development pages)."""

    pages: str

    @classmethod
    def of(
        cls, settings: IdentitySettings, *, host: str, port: int, development: bool
    ) -> MailLinks:
        """IDENTITY_FRONTEND_URL, else the API's development pages (development) or its
        public URL; the public URL is IDENTITY_PUBLIC_URL, else where the API listens."""
        api = (settings.public_url or listening_url(host, port)).rstrip("/")
        default = api + DEV_PAGES if development else api
        return cls(pages=(settings.frontend_url or default).rstrip("/"))

    def verify_email(self, token: str) -> str:
        return f"{self.pages}/verify-email?{urlencode({'token': token})}"

    def reset_password(self, token: str) -> str:
        return f"{self.pages}/reset-password?{urlencode({'token': token})}"

    def sign_in(self) -> str:
        return f"{self.pages}/login"

    def forgot_password(self) -> str:
        return f"{self.pages}/forgot-password"


def listening_url(host: str, port: int) -> str:
    """The URL a browser on this machine reaches the API at, from the address it binds:
    a wildcard (all interfaces) reads as the loopback address."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    if ":" in shown:  # an IPv6 literal
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def verification_mail(*, to: str, links: MailLinks, token: str, ttl_hours: int) -> Mail:
    return Mail(
        to=to,
        subject="Confirm your email address",
        text=(
            "Welcome to Mercato.\n\n"
            f"Confirm your email address by opening this link within {ttl_hours} hours:\n"
            f"{links.verify_email(token)}\n\n"
            "If you did not create an account, ignore this message."
        ),
    )


def already_registered_mail(*, to: str, links: MailLinks) -> Mail:
    return Mail(
        to=to,
        subject="Someone tried to register with your email address",
        text=(
            "Someone (perhaps you) tried to create a Mercato account with this address, "
            "which already has one.\n\n"
            f"To sign in, go to {links.sign_in()}. If it was not you, "
            "nothing changed and you can ignore this message."
        ),
    )


def reset_password_mail(*, to: str, links: MailLinks, token: str, ttl_minutes: int) -> Mail:
    return Mail(
        to=to,
        subject="Reset your password",
        text=(
            f"Choose a new password by opening this link within {ttl_minutes} minutes:\n"
            f"{links.reset_password(token)}\n\n"
            "If you did not ask for this, ignore this message: your password is unchanged."
        ),
    )


def password_changed_mail(*, to: str, links: MailLinks) -> Mail:
    return Mail(
        to=to,
        subject="Your password was changed",
        text=(
            "The password of your Mercato account was just changed, and your other sessions "
            "were signed out.\n\n"
            f"If this was not you, reset your password now at {links.forgot_password()}."
        ),
    )


def session_ended_for_reuse_mail(*, to: str, links: MailLinks, user_agent: str | None) -> Mail:
    device = f" (on {user_agent[:100]})" if user_agent else ""
    return Mail(
        to=to,
        subject="We signed you out of a session to protect your account",
        text=(
            f"A sign-in token of one of your sessions{device} was used twice, which happens "
            "when it was copied. We signed that session out; your password still works.\n\n"
            f"If you did not expect this, change your password at {links.forgot_password()} "
            "and sign out everywhere."
        ),
    )
