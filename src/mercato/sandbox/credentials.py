"""The sandbox's secrets, generated on first use into a private file (never in code).

The dev runner calls `load_or_create_credentials` once, before it starts anything, and
hands the same values to the sandbox (`SANDBOX_API_KEYS`, `SANDBOX_WEBHOOK_SECRETS`) and to
the payments service. `mercato sandbox serve` started on its own reads the same file for
whatever its settings leave unset: settings given explicitly always win.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from mercato.platform.security.keyfiles import write_private_file
from mercato.sandbox.config import MIN_SECRET_LENGTH, SandboxSettings

API_KEY_PREFIX = "sk_sandbox_"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_WEBHOOK_SECRET_BYTES = 32  # Standard Webhooks asks for at least 24


@dataclass(frozen=True, slots=True)
class SandboxCredentials:
    """The API key callers present and the secrets webhooks are signed with (several
    during a rotation: the sandbox signs with each, receivers accept any)."""

    api_key: str
    webhook_secrets: tuple[str, ...]

    def __repr__(self) -> str:  # never print a secret by accident
        secrets_held = len(self.webhook_secrets)
        return f"SandboxCredentials(api_key='{API_KEY_PREFIX}…', webhook_secrets={secrets_held})"

    @classmethod
    def generate(cls) -> SandboxCredentials:
        secret = base64.b64encode(secrets.token_bytes(_WEBHOOK_SECRET_BYTES)).decode()
        return cls(
            api_key=API_KEY_PREFIX + secrets.token_urlsafe(24),
            webhook_secrets=(WEBHOOK_SECRET_PREFIX + secret,),
        )


def load_or_create_credentials(path: Path) -> SandboxCredentials:
    """The credentials in `path`, created (mode 0600) with fresh random values if absent."""
    if path.exists():
        return _load(path)
    credentials = SandboxCredentials.generate()
    document = {
        "api_key": credentials.api_key,
        "webhook_secrets": list(credentials.webhook_secrets),
    }
    write_private_file(path, json.dumps(document, indent=2) + "\n")
    return credentials


def _load(path: Path) -> SandboxCredentials:
    invalid = ValueError(f"{path} is not a sandbox credentials file; delete it to regenerate")
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        raise invalid from None
    if not isinstance(document, dict):
        raise invalid
    api_key = document.get("api_key")
    webhook_secrets = document.get("webhook_secrets")
    if (
        not isinstance(api_key, str)
        or len(api_key) < MIN_SECRET_LENGTH
        or not isinstance(webhook_secrets, list)
        or not webhook_secrets
        or not all(isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH for s in webhook_secrets)
    ):
        raise invalid
    return SandboxCredentials(api_key=api_key, webhook_secrets=tuple(webhook_secrets))


def with_credentials(settings: SandboxSettings) -> SandboxSettings:
    """`settings` with the API keys and webhook secrets it lacks taken from its
    credentials file (created on first use); explicit settings are kept as they are."""
    if settings.api_keys and settings.webhook_secrets:
        return settings
    credentials = load_or_create_credentials(settings.credentials_file)
    update: dict[str, tuple[SecretStr, ...]] = {}
    if not settings.api_keys:
        update["api_keys"] = (SecretStr(credentials.api_key),)
    if not settings.webhook_secrets:
        update["webhook_secrets"] = tuple(SecretStr(s) for s in credentials.webhook_secrets)
    return settings.model_copy(update=update)
