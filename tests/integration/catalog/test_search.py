"""Product search (`q`): typo correction against the names' vocabulary, one statement per
page whichever branch answers, and bad queries answered with problem details."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.integration.catalog.conftest import counted_statements, create_product
from tests.integration.catalog.test_products_api import PRODUCTS, walk


async def ids(client: httpx.AsyncClient, q: str, *, limit: int = 24) -> list[str]:
    return [item["id"] for item in await walk(client, {"q": q, "limit": limit})]


async def test_misspelt_words_are_corrected_against_product_names(
    client: httpx.AsyncClient, editor: dict[str, str], connection: AsyncConnection
) -> None:
    kettle = await create_product(client, editor, name="Walnut kettle", description="Boils")
    teapot = await create_product(client, editor, name="Walnut teapot", description="Brews")
    # Products matching all the corrected words, when some do.
    assert await ids(client, "walnutt ketle") == [kettle["id"]]
    # Else those matching any of them; the next pages stay in that mode.
    assert set(await ids(client, "ketle teapott")) == {kettle["id"], teapot["id"]}
    paged = await ids(client, "ketle teapott", limit=1)
    assert sorted(paged) == sorted([kettle["id"], teapot["id"]])
    # A renamed product's new words are corrected to as well.
    await connection.execute(
        text("UPDATE catalog_product SET name = 'Copper samovar' WHERE id = :id"),
        {"id": teapot["id"]},
    )
    words = set((await connection.execute(text("SELECT word FROM catalog_search_word"))).scalars())
    assert {"walnut", "kettle", "teapot", "copper", "samovar"} <= words


async def test_words_matching_nothing_and_no_product_name_find_nothing(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    await create_product(client, editor, name="Garden hose")
    assert await ids(client, "trampoline zeppelin") == []
    assert await ids(client, "!!! ???") == []  # no word at all


async def test_websearch_operators_never_fall_back_to_typos(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    await create_product(client, editor, name="Stainless steel kettle")
    assert await ids(client, "ketle or stainles") == []
    assert await ids(client, '"steel ketle"') == []
    assert await ids(client, "ketle -hose") == []
    assert len(await ids(client, "ketle")) == 1


async def test_a_search_page_is_one_statement_whichever_branch_answers(
    client: httpx.AsyncClient, editor: dict[str, str], connection: AsyncConnection
) -> None:
    await create_product(client, editor, name="Oak table")
    for q in ("oak table", "oak tabel"):
        async with counted_statements(connection) as statements:
            response = await client.get(PRODUCTS, params={"q": q, "currency": "EUR"})
        assert response.status_code == 200
        assert len(response.json()["items"]) == 1
        assert len([s for s in statements if "catalog_product" in s]) == 1


async def test_a_long_query_of_misspelt_words_is_answered(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    kettle = await create_product(client, editor, name="Stainless steel kettle")
    q = " ".join(["ketle", "stainles", "xqzv"] * 12)[:200]
    assert await ids(client, q) == [kettle["id"]]


@pytest.mark.parametrize(
    "raw_query",
    [
        "q=oak%00table",  # NUL
        "q=" + "a" * 201,  # longer than 200 characters
        "q=",  # empty
    ],
)
async def test_bad_search_text_is_a_problem_not_an_error(
    client: httpx.AsyncClient, raw_query: str
) -> None:
    response = await client.get(f"{PRODUCTS}?{raw_query}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_bytes_that_are_not_utf8_are_searched_as_replacement_characters(
    client: httpx.AsyncClient,
) -> None:
    # A lone surrogate, UTF-8 encoded: the query string decodes it to U+FFFD.
    response = await client.get(f"{PRODUCTS}?q=%ED%A0%80")
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next": None}
