"""Products with options and variants through the API: one-request creation, the admin
routes of variants, prices, stock, options and images, and what the public reads show."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog.schemas import ProductOut, SellableVariantOut
from tests.integration.catalog.conftest import counted_statements, create_category

ADMIN = "/api/v1/admin/products"
PRODUCTS = "/api/v1/products"


def tee(**fields: Any) -> dict[str, Any]:
    """A T-shirt in S/M by Red/Blue (three of the four combinations), EUR and USD prices."""

    def variant(sku: str, size: str, colour: str, eur: int, on_hand: int) -> dict[str, Any]:
        return {
            "sku": sku,
            "options": {"Size": size, "Colour": colour},
            "prices": [
                {"currency": "EUR", "amount_minor": eur, "compare_at_minor": eur + 500},
                {"currency": "USD", "amount_minor": eur + 100},
            ],
            "on_hand": on_hand,
            "weight_grams": 180,
            "dimensions": {"length_mm": 300, "width_mm": 200, "height_mm": 10},
        }

    return {
        "slug": "tee",
        "name": "Organic tee",
        "description": "Soft cotton.",
        "status": "active",
        "type": "T-shirt",
        "tags": ["Summer ", "organic  cotton"],
        "options": [
            {"name": "Size", "values": ["S", "M"]},
            {"name": "Colour", "values": ["Red", "Blue"]},
        ],
        "variants": [
            variant("TEE-S-RED", "S", "Red", 1900, 3),
            variant("TEE-M-RED", "m", "red", 2100, 0),  # matched ignoring case
            variant("TEE-M-BLUE", "M", "Blue", 2000, 5),
        ],
        "images": [
            {"url": "https://media.example.com/tee.jpg", "alt": "The tee"},
            {
                "url": "https://media.example.com/tee-blue.jpg",
                "alt": "In blue",
                "variant_sku": "tee-m-blue",
            },
        ],
        **fields,
    }


async def create(client: httpx.AsyncClient, editor: dict[str, str], body: dict[str, Any]) -> Any:
    response = await client.post(ADMIN, json=body, headers=editor)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_product_with_options_and_variants_in_one_request(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    created = await create(client, editor, tee())
    assert created["tags"] == ["summer", "organic cotton"]
    assert [o["name"] for o in created["options"]] == ["Size", "Colour"]
    titles = [v["title"] for v in created["variants"]]
    assert titles == ["S / Red", "M / Red", "M / Blue"]
    assert created["variants"][1]["options"] == {"Size": "M", "Colour": "Red"}
    # Editors see the counts.
    assert created["variants"][2]["stock"] == {"on_hand": 5, "reserved": 0, "available": 5}
    assert created["price"] == {"amount_minor": 1900, "currency": "EUR"}  # the least

    page = await client.get(f"{PRODUCTS}/tee")
    assert page.status_code == 200
    document = page.json()
    assert ProductOut.model_validate(document).model_dump(mode="json") == document
    assert document["in_stock"] is True
    available = {v["sku"]: v["available"] for v in document["variants"]}
    assert available == {"TEE-S-RED": True, "TEE-M-RED": False, "TEE-M-BLUE": True}
    assert all(v["available_quantity"] is None and v["stock"] is None for v in document["variants"])
    primary = [image for image in document["images"] if image["primary"]]
    assert [image["url"] for image in primary] == ["https://media.example.com/tee.jpg"]
    assert document["variants"][0]["compare_at"] == {"amount_minor": 2400, "currency": "EUR"}

    in_dollars = (await client.get(f"{PRODUCTS}/tee", params={"currency": "USD"})).json()
    assert in_dollars["price"] == {"amount_minor": 2000, "currency": "USD"}
    assert in_dollars["variants"][0]["price"] == {"amount_minor": 2000, "currency": "USD"}
    assert len(in_dollars["variants"][0]["prices"]) == 2


async def test_a_variant_by_sku_has_what_a_cart_line_needs(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    created = await create(client, editor, tee())
    response = await client.get(f"{PRODUCTS}/{created['id']}/variants/tee-m-blue")
    assert response.status_code == 200
    variant = SellableVariantOut.model_validate(response.json())
    assert variant.sku == "TEE-M-BLUE"
    assert variant.product.name == "Organic tee"
    assert variant.image is not None
    assert variant.image.url.endswith("tee-blue.jpg")  # its own image, not the primary
    by_slug = await client.get(f"{PRODUCTS}/tee/variants/TEE-S-RED", params={"currency": "USD"})
    assert by_slug.json()["price"] == {"amount_minor": 2000, "currency": "USD"}
    assert by_slug.json()["image"]["url"].endswith("tee.jpg")
    missing = await client.get(f"{PRODUCTS}/tee/variants/NOPE")
    assert missing.status_code == 404
    assert missing.json()["type"] == "/problems/variant-not-found"


async def test_list_filters_by_option_tag_and_type_and_sorts_by_from_price(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    await create_category(client, editor, "apparel")
    shirt = await create(client, editor, tee(category="apparel"))
    cheap = await create(
        client,
        editor,
        {
            "slug": "socks",
            "name": "Socks",
            "status": "active",
            "type": "Socks",
            "tags": ["summer"],
            "options": [{"name": "Size", "values": ["M"]}, {"name": "Colour", "values": ["Red"]}],
            "variants": [
                {
                    "sku": "SOCK-M",
                    "options": {"Size": "M", "Colour": "Red"},
                    "prices": [{"currency": "EUR", "amount_minor": 500}],
                }
            ],
        },
    )

    async def ids(**params: str) -> list[str]:
        response = await client.get(PRODUCTS, params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert set(await ids(**{"option.size": "M"})) == {shirt["id"], cheap["id"]}
    # The combination must be one variant's: the tee has M/Blue and S/Red, and M/Red.
    assert set(await ids(**{"option.size": "m", "option.colour": "RED"})) == {
        shirt["id"],
        cheap["id"],
    }
    assert await ids(**{"option.size": "S", "option.colour": "Blue"}) == []
    assert await ids(**{"option.fit": "slim"}) == []
    assert await ids(tag="Organic Cotton") == [shirt["id"]]
    assert set(await ids(tag="summer")) == {shirt["id"], cheap["id"]}
    assert await ids(tag="no such tag") == []  # answered by the tags index alone
    assert await ids(type="Socks") == [cheap["id"]]
    assert await ids(sort="price") == [cheap["id"], shirt["id"]]
    assert await ids(sort="-price", currency="EUR") == [shirt["id"], cheap["id"]]
    assert await ids(currency="USD") == [shirt["id"]]  # the socks have no USD price
    assert await ids(currency="EUR", min_price="1000") == [shirt["id"]]
    assert await ids(q="TEE-M-BLUE") == [shirt["id"]]  # variant SKUs are searched
    assert await ids(q="cotton") == [shirt["id"]]  # tags too

    card = (await client.get(PRODUCTS, params={"tag": "organic cotton"})).json()["items"][0]
    assert card["price"] == {"amount_minor": 1900, "currency": "EUR"}
    assert card["primary_image"] == {"url": "https://media.example.com/tee.jpg", "alt": "The tee"}
    assert card["category"]["slug"] == "apparel"
    assert card["tags"] == ["summer", "organic cotton"]
    assert card["type"] == "T-shirt"
    assert (await client.get(PRODUCTS, params={"bogus": "1"})).status_code == 422


async def test_variants_prices_and_stock_are_edited_with_their_version(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    created = await create(client, editor, tee())
    product = f"{ADMIN}/{created['id']}"
    keyed = {**editor, "Idempotency-Key": "add-large"}
    body = {
        "sku": "TEE-S-BLUE",
        "options": {"size": "s", "colour": "blue"},
        "prices": [{"currency": "EUR", "amount_minor": 1500}],
        "on_hand": 2,
    }
    added = await client.post(f"{product}/variants", json=body, headers=keyed)
    assert added.status_code == 201, added.text
    replay = await client.post(f"{product}/variants", json=body, headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    variant = added.json()
    assert variant["title"] == "S / Blue"
    assert (await client.get(f"{PRODUCTS}/tee")).json()["price"]["amount_minor"] == 1500

    same_combination = await client.post(
        f"{product}/variants", json={**body, "sku": "OTHER"}, headers=editor
    )
    assert same_combination.status_code == 409
    same_sku = await client.post(
        f"{product}/variants",
        json={**body, "sku": "tee-s-red", "options": {"Size": "M", "Colour": "Red"}},
        headers=editor,
    )
    assert same_sku.status_code == 409
    assert same_sku.json()["type"] == "/problems/duplicate-variant"

    path = f"{product}/variants/{variant['id']}"
    stale = await client.patch(path, json={"barcode": "123", "version": 99}, headers=editor)
    assert stale.status_code == 409
    unconditional = await client.patch(path, json={"barcode": "123"}, headers=editor)
    assert unconditional.status_code == 428
    changed = await client.patch(
        path, json={"barcode": "4006381333931"}, headers={**editor, "If-Match": '"1"'}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'

    price = await client.put(
        f"{path}/prices/GBP", json={"amount_minor": 1300, "version": 2}, headers=editor
    )
    assert price.status_code == 200, price.text
    assert {p["currency"] for p in price.json()["prices"]} == {"EUR", "GBP"}
    bad_compare = await client.put(
        f"{path}/prices/GBP",
        json={"amount_minor": 1300, "compare_at_minor": 1000, "version": 3},
        headers=editor,
    )
    assert bad_compare.status_code == 422
    assert (
        await client.put(
            f"{path}/prices/XXX", json={"amount_minor": 1, "version": 3}, headers=editor
        )
    ).status_code == 422
    removed = await client.delete(f"{path}/prices/GBP", headers={**editor, "If-Match": '"3"'})
    assert removed.status_code == 204

    stock = f"{path}/stock"
    assert (await client.put(stock, json={"on_hand": 9}, headers=editor)).json()["on_hand"] == 9
    adjusted = await client.post(f"{stock}/adjust", json={"delta": -9}, headers=editor)
    assert adjusted.json() == {
        "variant_id": variant["id"],
        "on_hand": 0,
        "reserved": 0,
        "available": 0,
    }
    below = await client.post(f"{stock}/adjust", json={"delta": -1}, headers=editor)
    assert below.status_code == 409
    # A variant is only reachable under its own product.
    other = await create(
        client,
        editor,
        tee(
            slug="tee-two",
            variants=[],
            options=[],
            images=[],
            sku="LONE-1",
            price_minor=100,
            currency="EUR",
        ),
    )
    foreign = f"{ADMIN}/{other['id']}/variants/{variant['id']}"
    assert (
        await client.put(f"{foreign}/stock", json={"on_hand": 1}, headers=editor)
    ).status_code == 404
    assert (
        await client.patch(foreign, json={"version": 4, "barcode": "1"}, headers=editor)
    ).status_code == 404

    deleted = await client.delete(path, headers={**editor, "If-Match": '"4"'})
    assert deleted.status_code == 204, deleted.text
    page = (await client.get(f"{PRODUCTS}/tee")).json()
    assert "TEE-S-BLUE" not in {v["sku"] for v in page["variants"]}
    assert page["price"]["amount_minor"] == 1900  # the from-price follows
    # A deleted variant's stock is gone with it (it was adjustable once: #11.9).
    gone = await client.put(f"{path}/stock", json={"on_hand": 5}, headers=editor)
    assert gone.status_code == 404, gone.text
    adjust = await client.post(f"{path}/stock/adjust", json={"delta": 1}, headers=editor)
    assert adjust.status_code == 404, adjust.text


async def test_options_and_images(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    created = await create(client, editor, tee())
    product = f"{ADMIN}/{created['id']}"
    version = created["version"]
    added = await client.post(
        f"{product}/options",
        json={"name": "Fit", "values": ["Regular", "Slim"], "version": version},
        headers=editor,
    )
    assert added.status_code == 201, added.text
    document = added.json()
    assert {v["options"]["Fit"] for v in document["variants"]} == {"Regular"}
    assert (await client.get(PRODUCTS, params={"option.fit": "regular"})).json()["items"][0][
        "id"
    ] == created["id"]
    fourth = await client.post(
        f"{product}/options",
        json={"name": "Sleeve", "values": ["Short"], "version": document["version"]},
        headers=editor,
    )
    assert fourth.status_code == 409
    assert fourth.json()["type"] == "/problems/too-many-options"

    size = next(o for o in document["options"] if o["name"] == "Size")
    in_use = await client.patch(
        f"{product}/options/{size['id']}",
        json={"values": ["S", "L"], "version": document["version"]},
        headers=editor,
    )
    assert in_use.status_code == 409
    assert in_use.json()["type"] == "/problems/option-value-in-use"
    # Without Size, S/Red... and M/Red would both be Red/Regular: refused, nothing changed.
    collide = await client.delete(
        f"{product}/options/{size['id']}",
        headers={**editor, "If-Match": f'"{document["version"]}"'},
    )
    assert collide.status_code == 409
    fit = next(o for o in document["options"] if o["name"] == "Fit")
    dropped = await client.delete(
        f"{product}/options/{fit['id']}", headers={**editor, "If-Match": f'"{document["version"]}"'}
    )
    assert dropped.status_code == 204
    after = (await client.get(f"{product}", headers=editor)).json()
    assert [o["name"] for o in after["options"]] == ["Size", "Colour"]
    assert after["variants"][0]["options"] == {"Size": "S", "Colour": "Red"}

    not_https = await client.post(
        f"{product}/images", json={"url": "http://media.example.com/x.jpg"}, headers=editor
    )
    assert not_https.status_code == 422
    assert "media.example.com" not in not_https.text  # the input is not echoed
    image = await client.post(
        f"{product}/images",
        json={"url": "https://cdn.example.com/new.jpg", "alt": "New", "primary": True},
        headers=editor,
    )
    assert image.status_code == 201
    images = image.json()["images"]
    assert [i["url"] for i in images if i["primary"]] == ["https://cdn.example.com/new.jpg"]
    new = next(i for i in images if i["primary"])
    gone = await client.delete(
        f"{product}/images/{new['id']}",
        headers={**editor, "If-Match": f'"{image.json()["version"]}"'},
    )
    assert gone.status_code == 204
    remaining = (await client.get(product, headers=editor)).json()["images"]
    assert sum(i["primary"] for i in remaining) == 1


async def test_bad_variant_input_is_a_422_without_echo(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    body = tee()
    body["variants"][1]["options"] = {"Size": "XXL-secret", "Colour": "Red"}
    unknown_value = await client.post(ADMIN, json=body, headers=editor)
    assert unknown_value.status_code == 422
    assert "XXL-secret" not in unknown_value.text
    repeated = tee()
    repeated["variants"][1]["sku"] = "tee-s-red"
    assert (await client.post(ADMIN, json=repeated, headers=editor)).status_code == 422
    missing = tee()
    missing["variants"][0]["options"] = {"Size": "S"}
    assert (await client.post(ADMIN, json=missing, headers=editor)).status_code == 422
    both = tee(sku="X-1", price_minor=1, currency="EUR")
    assert (await client.post(ADMIN, json=both, headers=editor)).status_code == 422
    nul = tee()
    nul["options"][0]["name"] = "Si\x00ze"
    assert (await client.post(ADMIN, json=nul, headers=editor)).status_code == 422
    huge = tee()
    huge["variants"][0]["prices"][0]["amount_minor"] = 10**30
    assert (await client.post(ADMIN, json=huge, headers=editor)).status_code == 422
    unknown_category = await client.post(ADMIN, json=tee(category="no-such"), headers=editor)
    assert unknown_category.status_code == 422
    assert "no-such" not in unknown_category.json()["detail"]


async def test_a_product_page_is_one_statement_whatever_its_variants(
    client: httpx.AsyncClient, editor: dict[str, str], connection: AsyncConnection
) -> None:
    counts = []
    for size in (1, 12):
        values = [f"V{n}" for n in range(size)]
        body = {
            "slug": f"many-{size}",
            "name": "Many",
            "status": "active",
            "options": [{"name": "Size", "values": values}],
            "variants": [
                {
                    "sku": f"MANY-{size}-{value}",
                    "options": {"Size": value},
                    "prices": [{"currency": "EUR", "amount_minor": 100 + n}],
                }
                for n, value in enumerate(values)
            ],
            "images": [{"url": f"https://media.example.com/{n}.jpg"} for n in range(3)],
        }
        await create(client, editor, body)
        async with counted_statements(connection) as statements:
            page = await client.get(f"{PRODUCTS}/many-{size}")
        assert len(page.json()["variants"]) == size
        counts.append(len([s for s in statements if "catalog_product" in s]))
    assert counts == [1, 1]
