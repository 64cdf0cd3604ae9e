"""Card numbers and CVCs never reach a log line, an error body or the sandbox's tables;
API keys, webhook secrets and action tokens never reach a log line."""

from __future__ import annotations

import datetime as dt
import io

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mercato.platform.config import normalise_database_url
from tests.integration.sandbox.conftest import API_KEY, NEW_SECRET, OLD_SECRET, Sandbox

YEAR = dt.datetime.now(dt.UTC).year + 3
NUMBERS = ("4000000000000002", "4242424242424242", "4111111111111111", "4242424242424241")
SPACED = "4000 0025 0000 3155"
CVC = "ZQXJ"  # invalid, and made of letters no id, hash or timestamp contains


def _card(number: str, **changes: object) -> dict[str, object]:
    return {"card": {"number": number, "exp_month": 12, "exp_year": YEAR, "cvc": "314"} | changes}


async def test_card_data_is_never_logged_echoed_or_stored(
    sandbox: Sandbox, captured_logs: io.StringIO
) -> None:
    answers: list[httpx.Response] = []
    post = sandbox.api.post
    for number in (*NUMBERS, SPACED):
        answers.append(await post("/v1/payment_methods", json=_card(number)))
    answers += [
        await post("/v1/payment_methods", json=_card(NUMBERS[1], cvc=CVC)),
        await post("/v1/payment_methods", json=_card(NUMBERS[1], exp_year=2000)),
        await post("/v1/payment_methods", json=_card(NUMBERS[1], extra_field=NUMBERS[0])),
        await post("/v1/payment_methods", json=_card(NUMBERS[1], exp_month=NUMBERS[0])),
        await post("/v1/payment_methods", json={"card": {"number": NUMBERS[1], "cvc": CVC}}),
        await post("/v1/payment_methods", json=_card(NUMBERS[1] + "\x00")),
        await post("/v1/payment_methods", json=_card(NUMBERS[1] * 3)),
    ]
    key = {"Idempotency-Key": "card-leak-check"}
    answers.append(await post("/v1/payment_methods", json=_card(NUMBERS[1]), headers=key))
    answers.append(await post("/v1/payment_methods", json=_card(NUMBERS[0]), headers=key))
    answers.append(await post("/v1/payment_methods", json=_card(NUMBERS[1]), headers=key))
    method = answers[1].json()["id"]
    intent = await sandbox.create_intent()
    answers.append(await sandbox.confirm(intent["id"], method))

    assert answers[1].status_code == 200
    assert answers[-2].headers["idempotent-replayed"] == "true"
    logs = captured_logs.getvalue()
    assert "/v1/payment_methods" in logs  # the requests were logged, so the check means something
    engine = create_async_engine(normalise_database_url(sandbox.database_url))
    try:
        async with engine.connect() as connection:
            tables = (
                await connection.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = 'sandbox'"
                    )
                )
            ).scalars()
            stored = ""
            for table in list(tables):
                rows = await connection.execute(text(f'SELECT t::text FROM sandbox."{table}" t'))
                stored += "\n".join(rows.scalars())
    finally:
        await engine.dispose()
    bodies = "\n".join(answer.text for answer in answers)
    for place, content in (("logs", logs), ("error bodies", bodies), ("database", stored)):
        for number in (*NUMBERS, SPACED, SPACED.replace(" ", "")):
            assert number not in content, f"a card number reached the {place}"
        assert CVC not in content, f"a CVC reached the {place}"
        assert '"314"' not in content, f"a CVC reached the {place}"
    assert "\\x00" not in bodies


async def test_keys_secrets_and_action_tokens_never_reach_the_logs(
    sandbox: Sandbox, captured_logs: io.StringIO
) -> None:
    intent = await sandbox.create_intent()
    pending = (await sandbox.confirm(intent["id"], "pm_card_threeds")).json()
    url = pending["next_action"]["redirect_url"]
    token = url.rsplit("/", 1)[1]
    await sandbox.api.get(url)
    await sandbox.api.post(url, data={"outcome": "approve"})
    await sandbox.receiver.wait_for(lambda found: len(found) == 2, object_id=intent["id"])
    async with httpx.AsyncClient(base_url=sandbox.base_url) as wrong:
        await wrong.get("/v1/ledger", headers={"Authorization": "Bearer sk_sandbox_guessed_guess"})

    logs = captured_logs.getvalue()

    assert "/v1/actions/[redacted]" in logs
    assert token not in logs
    for secret in (API_KEY, OLD_SECRET, NEW_SECRET, "sk_sandbox_guessed_guess"):
        assert secret not in logs
