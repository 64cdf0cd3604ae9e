"""The mails identity sends (plain text), and the links in them (`MailLinks`).

Links point at the pages that finish each step (`IDENTITY_FRONTEND_URL`: verify the
address, choose a new password); without a frontend, in development, at the API's own
development pages (`/dev/verify-email`, ...), which complete the step in a browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from mercato.identity.config import IdentitySettings
from mercato.platform.config import Environment, Settings
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

    @classmethod
    def for_settings(cls, settings: Settings) -> MailLinks:
        """The links of a process configured by `settings` (jobs build them here)."""
        return cls.of(
            settings.section(IdentitySettings),
            host=settings.host,
            port=settings.port,
            development=settings.env is Environment.DEVELOPMENT,
        )

    def sign_in(self) -> str:
        return f"{self.pages}/login"

    def sign_in_device(self, device_token: str) -> str:
        """Signing in from there makes the client a known device (the password is still
        asked)."""
        return f"{self.pages}/login?{urlencode({'device_token': device_token})}"

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


def sign_in_attempts_mail(*, to: str, links: MailLinks) -> Mail:
    """Someone is guessing the password (the account's throttle holds unknown clients back)."""
    return Mail(
        to=to,
        subject="Someone is trying to sign in to your account",
        text=(
            "Several sign-ins to your Mercato account just failed with a wrong password. "
            "To protect it, we are slowing down sign-ins from devices that have not signed "
            "in to it before.\n\n"
            "Devices where you signed in before are not affected. From a new device, sign in "
            "as usual: if it is held back, we mail you a link that lets it through.\n\n"
            "If this was not you, your password may be known to someone: choose a new one at "
            f"{links.forgot_password()} (that also lifts the protection)."
        ),
    )


def sign_in_link_mail(*, to: str, links: MailLinks, device_token: str, ttl_minutes: int) -> Mail:
    """The right password came from a new device while the account was held back: a link
    that makes that device a known one (the password is still needed)."""
    link = links.sign_in_device(device_token)
    return Mail(
        to=to,
        subject="Finish signing in from a new device",
        text=(
            "Someone signed in to your Mercato account with the right password from a device "
            "we do not know, while sign-ins from new devices are slowed down because of "
            "failed attempts.\n\n"
            f"If it was you, open this link on that device within {ttl_minutes} minutes and "
            f"sign in again:\n{link}\n\n"
            "If it was not you, someone knows your password: choose a new one now at "
            f"{links.forgot_password()}."
        ),
    )
