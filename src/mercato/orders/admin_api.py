"""Administration of what carts need (`orders:write`): shipping methods and tax rates.

(The order administration routes, search, fulfil, cancel, refund and history, are the
orders-admin work; they call `mercato.orders.lifecycle`.)"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from mercato.orders import shipping
from mercato.orders.auth import OrdersReader, OrdersWriter
from mercato.orders.errors import NoTaxRate, ShippingMethodNotFound
from mercato.orders.models import TaxRate
from mercato.orders.repository import OrdersReads
from mercato.orders.schemas import (
    ShippingMethodIn,
    ShippingMethodOut,
    ShippingMethodUpdateIn,
    TaxRateIn,
    TaxRateOut,
)
from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.idempotency import idempotent

router = APIRouter(prefix="/api/v1/admin", tags=["orders administration"])

Country = Annotated[
    str, Path(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$", description="ISO 3166-1")
]


async def _method(database: Database, method_id: uuid.UUID) -> ShippingMethodOut:
    async with database.session() as session:
        reads = OrdersReads(session)
        method = await reads.shipping_method(method_id)
        if method is None:
            raise ShippingMethodNotFound()
        return ShippingMethodOut.of(method, await reads.shipping_prices([method_id]))


@router.get(
    "/shipping-methods",
    response_model=list[ShippingMethodOut],
    summary="Every shipping method, offered or not",
)
async def list_shipping_methods(
    staff: OrdersReader, database: DatabaseDep
) -> list[ShippingMethodOut]:
    async with database.session() as session:
        reads = OrdersReads(session)
        methods = await reads.shipping_methods(active_only=False)
        prices = await reads.shipping_prices([method.id for method in methods])
    return [ShippingMethodOut.of(method, prices) for method in methods]


@router.post(
    "/shipping-methods",
    status_code=201,
    response_model=ShippingMethodOut,
    summary="Create a shipping method with its flat prices",
)
async def create_shipping_method(
    body: ShippingMethodIn,
    staff: OrdersWriter,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> Response:
    async with idempotent(request, database, scope=f"user:{staff.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        method_id = await shipping.create_shipping_method(
            uow, code=body.code, name=body.name, prices=body.prices, active=body.active
        )
        created = JSONResponse(
            (await _method(database, method_id)).model_dump(mode="json"), status_code=201
        )
        created.headers["Location"] = f"/api/v1/admin/shipping-methods/{method_id}"
        return await guard.finish(created)


@router.put(
    "/shipping-methods/{method_id}",
    response_model=ShippingMethodOut,
    summary="Replace a shipping method's name, prices and whether it is offered",
)
async def update_shipping_method(
    method_id: uuid.UUID,
    body: ShippingMethodUpdateIn,
    staff: OrdersWriter,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> ShippingMethodOut:
    await shipping.update_shipping_method(
        uow, method_id=method_id, name=body.name, prices=body.prices, active=body.active
    )
    return await _method(database, method_id)


@router.get("/tax-rates", response_model=list[TaxRateOut], summary="Tax rates by country")
async def list_tax_rates(staff: OrdersReader, database: DatabaseDep) -> list[TaxRateOut]:
    async with database.session() as session:
        return [TaxRateOut.of(rate) for rate in await OrdersReads(session).tax_rates()]


@router.put("/tax-rates/{country}", response_model=TaxRateOut, summary="Set a country's tax rate")
async def set_tax_rate(
    country: Country,
    body: TaxRateIn,
    staff: OrdersWriter,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> TaxRateOut:
    """Setting a rate is what opens shipping to a country."""
    await shipping.set_tax_rate(uow, country=country, rate_bp=body.rate_bp)
    async with database.session() as session:
        rate = await session.get(TaxRate, country)
    if rate is None:  # deleted between the two statements
        raise NoTaxRate()
    return TaxRateOut.of(rate)


@router.delete("/tax-rates/{country}", status_code=204, summary="Stop shipping to a country")
async def delete_tax_rate(country: Country, staff: OrdersWriter, uow: UnitOfWorkDep) -> Response:
    await shipping.delete_tax_rate(uow, country=country)
    return Response(status_code=204)
