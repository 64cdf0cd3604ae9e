"""What the catalog administration routes share: the answer after a change (the product
or variant read on the primary, with its version as ETag), the expected version of a
change, and the path and header parameters they all take."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Header, Path, Query
from fastapi.responses import JSONResponse

from mercato.catalog.errors import ProductNotFound, VariantNotFound
from mercato.catalog.product_pages import editor_product
from mercato.catalog.schemas import CategoryOut, ProductOut, ProductPageParams, VariantOut
from mercato.catalog.services import CatalogServices
from mercato.platform.concurrency import ExpectedVersion, version_etag
from mercato.platform.db.database import Database
from mercato.platform.errors import Invalid
from mercato.platform.money import is_known_currency

IfMatch = Annotated[str | None, Header(max_length=200)]
CurrencyCode = Annotated[str, Path(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]
PageParams = Annotated[ProductPageParams, Query()]


def known_currency(code: str) -> str:
    if not is_known_currency(code):
        raise Invalid(
            "Not a currency the catalog accepts.",
            errors=[{"in": "path", "pointer": "/currency", "detail": "unknown currency"}],
        )
    return code


async def product_document(
    database: Database, product_id: uuid.UUID, *, currency: str
) -> dict[str, Any]:
    """Read on the primary: the editor must see their own write (read-your-writes)."""
    async with database.session() as session:
        document = await editor_product(session, product_id, currency=currency)
    if document is None:
        raise ProductNotFound()
    return document


async def product_out(database: Database, product_id: uuid.UUID, *, currency: str) -> ProductOut:
    return ProductOut.model_validate(
        await product_document(database, product_id, currency=currency)
    )


async def variant_out(
    database: Database, product_id: uuid.UUID, variant_id: uuid.UUID, *, currency: str
) -> VariantOut:
    document = await product_document(database, product_id, currency=currency)
    found = next((v for v in document["variants"] if v["id"] == str(variant_id)), None)
    if found is None:
        raise VariantNotFound()
    return VariantOut.model_validate(found)


def versioned(
    resource: ProductOut | VariantOut | CategoryOut, *, status_code: int = 200
) -> JSONResponse:
    """The representation with its version as ETag (what If-Match wants back)."""
    return JSONResponse(
        resource.model_dump(mode="json", exclude_none=False),
        status_code=status_code,
        headers={"ETag": version_etag(resource.version)},
    )


async def product_answer(
    database: Database, catalog: CatalogServices, product_id: uuid.UUID, *, status_code: int = 200
) -> JSONResponse:
    """The product after a change, in the shop's default currency, with its version."""
    product = await product_out(database, product_id, currency=catalog.settings.default_currency)
    return versioned(product, status_code=status_code)


def expected_version(if_match: str | None, version: int | None = None) -> ExpectedVersion:
    return ExpectedVersion.from_request(if_match=if_match, body_version=version)
