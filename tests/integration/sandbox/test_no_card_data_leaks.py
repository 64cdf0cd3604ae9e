"""Card numbers and CVCs never reach a log line, an error body or the sandbox's tables."""

from __future__ import annotations

import datetime as dt
import io

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mercato.platform.config import LogSettings, normalise_database_url
from mercato.platform.observability.logging import configure_logging
from tests.integration.sandbox.conftest import Sandbox

YEAR = dt.datetime.now(dt.UTC).year + 3
NUMBERS = ("4000000000000002", "4242424242424242", "4111111111111111", "4242424242424241")
SPACED = "4000 0025 0000 3155"
CVC = "ZQXJ"  # invalid, and made of letters no id, hash or timestamp contains


@pytest.fixture
def captured_logs(preserved_logging: None) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(LogSettings(level="DEBUG"), stream=stream)
    return stream


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
