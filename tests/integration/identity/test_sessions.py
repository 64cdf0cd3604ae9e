"""The caller's sessions: listed, revoked one by one; another user's are out of reach."""

from __future__ import annotations

import uuid

import httpx

PASSWORD = "correct horse battery staple"


async def signed_in(client: httpx.AsyncClient, email: str, *, agent: str) -> dict[str, str]:
    await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_sessions_are_listed_and_revoked_one_by_one(client: httpx.AsyncClient) -> None:
    laptop = await signed_in(client, "ada@example.com", agent="laptop")
    phone = await signed_in(client, "ada@example.com", agent="phone")
    listed = (await client.get("/api/v1/auth/sessions", headers=laptop)).json()
    assert {item["user_agent"] for item in listed} == {"laptop", "phone"}
    assert [item["current"] for item in listed if item["user_agent"] == "laptop"] == [True]
    phone_session = next(item["id"] for item in listed if item["user_agent"] == "phone")

    revoked = await client.delete(f"/api/v1/auth/sessions/{phone_session}", headers=laptop)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=phone)).status_code == 401
    assert (await client.get("/api/v1/users/me", headers=laptop)).status_code == 200


async def test_another_users_session_answers_404_and_survives(client: httpx.AsyncClient) -> None:
    ada = await signed_in(client, "ada@example.com", agent="ada")
    eve = await signed_in(client, "eve@example.com", agent="eve")
    ada_session = (await client.get("/api/v1/auth/sessions", headers=ada)).json()[0]["id"]

    attempt = await client.delete(f"/api/v1/auth/sessions/{ada_session}", headers=eve)
    assert attempt.status_code == 404
    unknown = await client.delete(f"/api/v1/auth/sessions/{uuid.uuid4()}", headers=eve)
    assert attempt.json() == {**unknown.json(), "instance": attempt.json()["instance"]}
    assert (await client.get("/api/v1/users/me", headers=ada)).status_code == 200
    eve_view = (await client.get("/api/v1/auth/sessions", headers=eve)).json()
    assert ada_session not in {item["id"] for item in eve_view}


async def test_a_malformed_session_id_is_a_422(client: httpx.AsyncClient) -> None:
    ada = await signed_in(client, "ada@example.com", agent="ada")
    response = await client.delete("/api/v1/auth/sessions/not-a-uuid", headers=ada)
    assert response.status_code == 422
