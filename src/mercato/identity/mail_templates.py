"""The mails identity sends (plain text; links built from IDENTITY_PUBLIC_URL)."""

from __future__ import annotations

from urllib.parse import urlencode

from mercato.platform.mail import Mail


def verification_mail(*, to: str, public_url: str, token: str, ttl_hours: int) -> Mail:
    link = f"{public_url.rstrip('/')}/verify-email?{urlencode({'token': token})}"
    return Mail(
        to=to,
        subject="Confirm your email address",
        text=(
            "Welcome to Mercato.\n\n"
            f"Confirm your email address by opening this link within {ttl_hours} hours:\n"
            f"{link}\n\n"
            "If you did not create an account, ignore this message."
        ),
    )


def already_registered_mail(*, to: str, public_url: str) -> Mail:
    return Mail(
        to=to,
        subject="Someone tried to register with your email address",
        text=(
            "Someone (perhaps you) tried to create a Mercato account with this address, "
            "which already has one.\n\n"
            f"To sign in, go to {public_url.rstrip('/')}/login. If it was not you, "
            "nothing changed and you can ignore this message."
        ),
    )


def reset_password_mail(*, to: str, public_url: str, token: str, ttl_minutes: int) -> Mail:
    link = f"{public_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"
    return Mail(
        to=to,
        subject="Reset your password",
        text=(
            f"Choose a new password by opening this link within {ttl_minutes} minutes:\n"
            f"{link}\n\n"
            "If you did not ask for this, ignore this message: your password is unchanged."
        ),
    )


def password_changed_mail(*, to: str, public_url: str) -> Mail:
    return Mail(
        to=to,
        subject="Your password was changed",
        text=(
            "The password of your Mercato account was just changed, and your other sessions "
            "were signed out.\n\n"
            "If this was not you, reset your password now at "
            f"{public_url.rstrip('/')}/forgot-password."
        ),
    )


def session_ended_for_reuse_mail(*, to: str, public_url: str, user_agent: str | None) -> Mail:
    device = f" (on {user_agent[:100]})" if user_agent else ""
    return Mail(
        to=to,
        subject="We signed you out of a session to protect your account",
        text=(
            f"A sign-in token of one of your sessions{device} was used twice, which happens "
            "when it was copied. We signed that session out; your password still works.\n\n"
            "If you did not expect this, change your password at "
            f"{public_url.rstrip('/')}/forgot-password and sign out everywhere."
        ),
    )


def sign_in_attempts_mail(*, to: str, public_url: str) -> Mail:
    """Someone is guessing the password (the account's throttle holds unknown clients back)."""
    base = public_url.rstrip("/")
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
            f"{base}/forgot-password (that also lifts the protection)."
        ),
    )


def sign_in_link_mail(*, to: str, public_url: str, device_token: str, ttl_minutes: int) -> Mail:
    """The right password came from a new device while the account was held back: a link
    that makes that device a known one (the password is still needed)."""
    link = f"{public_url.rstrip('/')}/sign-in?{urlencode({'device_token': device_token})}"
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
            f"{public_url.rstrip('/')}/forgot-password."
        ),
    )
