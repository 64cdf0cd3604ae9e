"""Signing in: the password, judged under the per-client throttle (`throttle`), that slows
attackers down without refusing the owner.

Three steps, so that no connection or row lock is held while Argon2 runs:
1. a short transaction finds the account, reads the client's device token, and claims the
   attempt on the client's throttle keys (counted before it is judged);
2. the password is verified (a dummy verification when there is no account, so that
   timing does not tell);
3. a second transaction records the outcome: the session and a device token on success;
   the audit entry, and the owner's mails, otherwise.

One 401 for unknown account, wrong password, inactive account and held back. Held back by
the account key alone (failures came from elsewhere), a client that knows the password
gets the same 401, and the owner a mailed sign-in link that makes that client a known
device. The owner hears of failures past the account's allowance once an hour.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NoReturn

from mercato.identity import throttle
from mercato.identity.addresses import InvalidEmail, normalise_email
from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.errors import EmailNotVerified, InvalidCredentials
from mercato.identity.known_devices import KnownDevice
from mercato.identity.mail_templates import sign_in_attempts_mail
from mercato.identity.models import User
from mercato.identity.repository import IdentityRepository
from mercato.identity.services import IdentityServices
from mercato.identity.sessions import TokenPair, open_session
from mercato.identity.tasks import sign_in_link_job
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.tasks import send_mail_job

ATTEMPTS_NOTICE_EVERY = dt.timedelta(hours=1)
SIGN_IN_LINK_EVERY = dt.timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class SignedIn:
    tokens: TokenPair
    # The client's device token: the one it sent (still valid), or a new one.
    device_token: str


@dataclass(frozen=True, slots=True)
class _Attempt:
    email: str
    user: User | None
    device: KnownDevice | None
    keys: tuple[throttle.ThrottleKey, ...]
    claim: throttle.Claim


async def login(
    *,
    email: str,
    password: str,
    device_token: str | None,
    identity: IdentityServices,
    uow: UnitOfWork,
    client: ClientInfo,
) -> SignedIn:
    """Sign in (see the module doc); `InvalidCredentials` for every refusal."""
    try:
        normalised = normalise_email(email)
    except InvalidEmail:
        await identity.hasher.verify_nobody(password)
        raise InvalidCredentials() from None
    attempt = await _claim(normalised, device_token, identity=identity, uow=uow, client=client)
    user = attempt.user
    if user is None:
        await identity.hasher.verify_nobody(password)
        outcome = "unknown_account" if attempt.claim.admitted else "throttled"
        await _refuse(uow, AuditRecord("login", outcome), client)
    if not attempt.claim.admitted:
        await _held_back(uow, attempt, user, password=password, identity=identity, client=client)
    verification = await identity.hasher.verify(user.password_hash, password)
    if not verification.valid or user.status != "active":
        outcome = "wrong_password" if not verification.valid else f"account_{user.status}"
        async with uow:
            if outcome == "wrong_password" and attempt.claim.account_held:
                await _tell_owner_of_attempts(uow, user, identity=identity)
            await _audit_and_refuse(
                uow, AuditRecord("login", outcome, target_user_id=user.id), client
            )
    # Hashed before the transaction: no connection waits on Argon2.
    rehashed = await identity.hasher.hash(password) if verification.needs_rehash else None
    async with uow:
        users = IdentityRepository(uow.session)
        await throttle.record_success(uow.session, attempt.keys)
        if user.email_verified_at is None and not identity.settings.allow_unverified_login:
            # Said only to someone who knows the password: no enumeration here.
            await record(
                uow, AuditRecord("login", "email_unverified", target_user_id=user.id), client
            )
            await uow.commit()
            raise EmailNotVerified(
                "Confirm your email address first (POST /api/v1/auth/resend-verification)."
            )
        if rehashed is not None:
            await users.set_password_hash(user.id, rehashed)
        tokens = await open_session(users, user=user, identity=identity, client=client)
        known = "known_device" if attempt.device is not None else "new_device"
        await record(
            uow,
            AuditRecord("login", "ok", actor_user_id=user.id, details={"client": known}),
            client,
        )
        await uow.commit()
    # A known device keeps its id (and its counters) with a fresh lifetime.
    device_id = attempt.device.device_id if attempt.device is not None else None
    device_token = identity.devices.issue(user.id, device_id=device_id)
    return SignedIn(tokens=tokens, device_token=device_token)


async def _claim(
    email: str,
    device_token: str | None,
    *,
    identity: IdentityServices,
    uow: UnitOfWork,
    client: ClientInfo,
) -> _Attempt:
    """Step 1: the account, the client, and the attempt counted (or held back)."""
    async with uow:
        user = await IdentityRepository(uow.session).live_user_by_email(email)
        device = identity.devices.read(device_token, user_id=user.id) if user else None
        keys = throttle.keys_for(
            email, client.ip, device_id=device.device_id if device is not None else None
        )
        claim = await throttle.claim(uow.session, keys)
        await uow.commit()
    return _Attempt(email=email, user=user, device=device, keys=keys, claim=claim)


async def _held_back(
    uow: UnitOfWork,
    attempt: _Attempt,
    user: User,
    *,
    password: str,
    identity: IdentityServices,
    client: ClientInfo,
) -> NoReturn:
    """A held-back attempt: not counted, answered like a wrong password. Only when nothing
    but the account key holds this client back is the password judged, for one purpose:
    to mail the owner a sign-in link if it is right."""
    audit = AuditRecord("login", "throttled", target_user_id=user.id)
    if attempt.claim.held_by != {throttle.ACCOUNT} or user.status != "active":
        await identity.hasher.verify_nobody(password)
        await _refuse(uow, audit, client)
    if not (await identity.hasher.verify(user.password_hash, password)).valid:
        await _refuse(uow, audit, client)
    async with uow:
        mailed = await throttle.claim_window(
            uow.session, f"sign_in_link:{attempt.email}", every=SIGN_IN_LINK_EVERY
        )
        if mailed:
            uow.defer(sign_in_link_job(user.id))
        details = {"sign_in_link": "mailed" if mailed else "mailed_recently"}
        await _audit_and_refuse(
            uow, AuditRecord("login", "throttled", target_user_id=user.id, details=details), client
        )


async def _tell_owner_of_attempts(
    uow: UnitOfWork, user: User, *, identity: IdentityServices
) -> None:
    """Failures past the account's allowance: the owner hears of it, once an hour."""
    if await throttle.claim_window(
        uow.session, f"notice:{user.email}", every=ATTEMPTS_NOTICE_EVERY
    ):
        uow.defer(send_mail_job(sign_in_attempts_mail(to=user.email, links=identity.links)))


async def _refuse(uow: UnitOfWork, audit: AuditRecord, client: ClientInfo) -> NoReturn:
    async with uow:
        await _audit_and_refuse(uow, audit, client)


async def _audit_and_refuse(uow: UnitOfWork, audit: AuditRecord, client: ClientInfo) -> NoReturn:
    await record(uow, audit, client)
    await uow.commit()
    raise InvalidCredentials()
