"""Identity's operations in the OpenAPI document: summaries, examples, domain errors.

Keyed by operationId; the rest (policy, statuses, headers) is derived from the routes by
`platform.http.openapi`. Examples are validated against their schemas by a test.
"""

from __future__ import annotations

from typing import Any

from mercato.platform.http.operation_docs import OperationDoc, OperationDocs

USER_ID = "0193a7c4-0000-7a1e-8d1e-ada000000001"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a documentation example
ACCEPTED = {
    "status": "accepted",
    "detail": "If this address can receive mail, a message with the next step is on its way.",
}
TOKENS = {
    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ims3In0.eyJzdWIiOiIwMTkzYTdjNCJ9.c2lnbmF0dXJl",
    "token_type": "Bearer",
    "expires_in": 600,
    "refresh_token": "rt_5f1c0e0b9a7d4c2e8f6a3b1d0c9e8f7a",
    "email_verified": True,
}
USER: dict[str, Any] = {
    "id": USER_ID,
    "email": "ada@example.com",
    "email_verified": True,
    "name": "Ada",
    "phone": "+442079460958",
    "roles": ["customer"],
    "created_at": "2026-11-27T09:30:00Z",
    "version": 2,
}
ADMIN_USER: dict[str, Any] = {
    "id": USER_ID,
    "email": "ada@example.com",
    "email_verified": True,
    "name": "Ada",
    "status": "active",
    "roles": ["customer"],
    "created_at": "2026-11-27T09:30:00Z",
    "version": 2,
}
_BAD_LINK = "The link's token is unknown, used or expired: ask for a new one."

OPERATIONS: OperationDocs = {
    "identity-register": OperationDoc(
        summary="Create an account (a verification link is mailed)",
        request={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"},
        response=ACCEPTED,
        errors={422: "A field is invalid, or the password is too weak or too common."},
    ),
    "identity-verify-email": OperationDoc(
        summary="Confirm an email address with the token from its mail",
        request={"token": "vt_Qm9vdHN0cmFwcGluZyBpcyBmdW4"},
        errors={400: _BAD_LINK},
    ),
    "identity-login": OperationDoc(
        summary="Sign in: an access token and a refresh token",
        request={"email": "ada@example.com", "password": PASSWORD},
        response=dict(TOKENS, device_token="dv_0193a7c4.Vt3kq9xN2mLw8pQz"),  # noqa: S106
        errors={
            401: "Wrong email or password (the answer never says which).",
            403: "The address is not verified and IDENTITY_ALLOW_UNVERIFIED_LOGIN is false.",
            429: "Too many attempts for this account or from this address: wait `Retry-After`.",
        },
    ),
    "identity-refresh": OperationDoc(
        summary="Trade a refresh token for a new pair (the old one is spent)",
        request={"refresh_token": "rt_5f1c0e0b9a7d4c2e8f6a3b1d0c9e8f7a"},
        response=dict(TOKENS, refresh_token="rt_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"),  # noqa: S106
        errors={
            401: "The refresh token is unknown, expired or spent (reuse ends its session).",
            409: "A refresh of this token is in progress: retry shortly.",
        },
    ),
    "identity-logout": OperationDoc(
        summary="Sign out this session, the others, or all",
        request={"scope": "local"},
    ),
    "identity-list-sessions": OperationDoc(
        summary="Your live sessions",
        response=[
            {
                "id": "0193a7c4-1111-7000-8000-5e5510000001",
                "created_at": "2026-11-27T09:31:00Z",
                "last_used_at": "2026-11-29T14:05:12Z",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
                "ip": "203.0.113.7",
                "current": True,
            }
        ],
    ),
    "identity-revoke-session": OperationDoc(
        summary="Sign out one of your sessions", errors={404: "No such session of yours."}
    ),
    "identity-resend-verification": OperationDoc(
        summary="Mail a new verification link",
        request={"email": "ada@example.com"},
        response=ACCEPTED,
    ),
    "identity-forgot-password": OperationDoc(
        summary="Mail a password reset link",
        request={"email": "ada@example.com"},
        response=ACCEPTED,
    ),
    "identity-reset-password": OperationDoc(
        summary="Set a new password with the token from the reset mail",
        request={"token": "rp_Qm9vdHN0cmFwcGluZyBpcyBmdW4", "new_password": PASSWORD + " 2"},
        errors={400: _BAD_LINK, 422: "The new password is too weak or too common."},
    ),
    "identity-change-password": OperationDoc(
        summary="Change your password (other sessions are signed out)",
        request={"current_password": PASSWORD, "new_password": PASSWORD + " 2"},
        errors={422: "The current password is wrong, or the new one too weak."},
    ),
    "identity-me": OperationDoc(summary="Your account", response=USER, headers=("ETag",)),
    "identity-update-me": OperationDoc(
        summary="Change your name or phone",
        request={"name": "Ada", "phone": "+44 20 7946 0958"},
        response=dict(USER, version=3),
    ),
    "identity-delete-me": OperationDoc(
        summary="Delete your account (your password is required)",
        request={"password": PASSWORD},
        errors={422: "The password is wrong."},
    ),
    "identity-jwks": OperationDoc(
        response={
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "kid": "k7",
                    "alg": "EdDSA",
                    "use": "sig",
                }
            ]
        },
        headers=("Cache-Control",),
    ),
    "identity-administration-search-users": OperationDoc(
        summary="Search accounts by email or name",
        response={"items": [ADMIN_USER], "next": None},
    ),
    "identity-administration-admin-user": OperationDoc(
        summary="One account",
        response=ADMIN_USER,
        headers=("ETag",),
        errors={404: "There is no such user."},
    ),
    "identity-administration-change-user": OperationDoc(
        summary="Disable or enable an account, or change its roles",
        request={"status": "disabled"},
        response=dict(ADMIN_USER, status="disabled", version=3),
        errors={
            403: "The role given or held is above yours.",
            409: "`version` is stale, or this would leave no active administrator.",
            422: "A field is invalid, or a role is unknown.",
        },
    ),
    "identity-administration-audit-log": OperationDoc(
        summary="The security audit log",
        response={
            "items": [
                {
                    "id": 1042,
                    "occurred_at": "2026-11-29T14:05:12Z",
                    "action": "login",
                    "outcome": "succeeded",
                    "actor_user_id": USER_ID,
                    "target_user_id": USER_ID,
                    "ip": "203.0.113.7",
                    "user_agent": "curl/8.5.0",
                    "request_id": "9f2c1a7e5b3d4f60",
                    "details": {},
                }
            ],
            "next": "/api/v1/admin/audit?action=login&limit=1&cursor=eyJ2IjpbMTA0Ml19",
        },
    ),
}
