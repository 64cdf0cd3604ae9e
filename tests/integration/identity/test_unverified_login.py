"""Unverified accounts: allowed and flagged by default, or refused by configuration."""

from __future__ import annotations

import jwt
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.identity.config import IdentitySettings
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from tests.support.apps import app_client
from tests.support.identity import PASSWORD, seed_account

LOGIN = "/api/v1/auth/login"


async def test_unverified_accounts_sign_in_flagged_or_are_refused_by_configuration(
    settings: Settings, connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    await seed_account(connection, email="new@shop.example", verified=False)
    await seed_account(connection, email="old@shop.example", verified=True)
    credentials = {"email": "new@shop.example", "password": PASSWORD}

    async with app_client(settings, database) as api:
        flagged = await api.post(LOGIN, json=credentials)
        assert flagged.status_code == 200
        assert flagged.json()["email_verified"] is False
        claims = jwt.decode(flagged.json()["access_token"], options={"verify_signature": False})
        assert claims["email_verified"] is False
        verified = await api.post(LOGIN, json={"email": "old@shop.example", "password": PASSWORD})
        assert verified.json()["email_verified"] is True

    strict = settings.with_section(IdentitySettings(allow_unverified_login=False))
    async with app_client(strict, database) as api:
        refused = await api.post(LOGIN, json=credentials)
        assert refused.status_code == 403
        assert refused.json()["type"] == "/problems/email-not-verified"
        # Only the right password learns that: a wrong one is the usual 401.
        wrong = await api.post(LOGIN, json={**credentials, "password": "not the password"})
        assert wrong.status_code == 401
        assert (
            await api.post(LOGIN, json={"email": "old@shop.example", "password": PASSWORD})
        ).status_code == 200
