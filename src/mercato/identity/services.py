"""Identity's services: what its use cases and routes work with, built once per process
(`startup.start`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mercato.identity.config import IdentitySettings
from mercato.identity.known_devices import KnownDevices
from mercato.identity.mail_templates import MailLinks
from mercato.identity.principal_cache import PrincipalCache
from mercato.platform.config import Settings
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.security.hashing import PasswordHasher
from mercato.platform.security.jwt import AccessTokens
from mercato.platform.security.sealing import Sealer

JWT_KEYS = "jwt-keys.json"
FIELD_KEYS = "field-keys.json"


@dataclass(slots=True)
class IdentityServices:
    """What identity's use cases and routes work with (one dependency: `IdentityDep`)."""

    settings: IdentitySettings
    hasher: PasswordHasher
    tokens: AccessTokens
    field_keys: FieldKeyRing
    # Seals the successor of a rotated refresh token, for the grace window's retries.
    refresh_sealer: Sealer
    principals: PrincipalCache
    # Device tokens: clients that signed in before, throttled apart from the account.
    devices: KnownDevices
    # Where the links in identity's mails point (`mail_templates.MailLinks.of`).
    links: MailLinks


def jwt_keys_file(settings: Settings) -> Path:
    return settings.key_file(settings.section(IdentitySettings).keys_file, JWT_KEYS)


def field_keys_file(settings: Settings) -> Path:
    return settings.key_file(settings.section(IdentitySettings).field_keys_file, FIELD_KEYS)
