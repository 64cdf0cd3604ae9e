"""Shipping methods (a flat price per currency) and tax rates per country, managed by the
shop's staff (`orders:write`). Each change is one unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from mercato.orders.addresses import COUNTRIES
from mercato.orders.errors import NoTaxRate, ShippingMethodNotFound
from mercato.orders.models import ShippingMethod, ShippingPrice, TaxRate
from mercato.orders.repository import OrdersRepository
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid
from mercato.platform.ids import uuid7


async def create_shipping_method(
    uow: UnitOfWork, *, code: str, name: str, prices: Mapping[str, int], active: bool
) -> uuid.UUID:
    method_id = uuid7()
    async with uow:
        repo = OrdersRepository(uow.session)
        await repo.add_shipping_method(
            ShippingMethod(id=method_id, code=code, name=name, active=active, version=1)
        )
        await _put_prices(uow, method_id, prices)
        await uow.commit()
    return method_id


async def update_shipping_method(
    uow: UnitOfWork,
    *,
    method_id: uuid.UUID,
    name: str,
    prices: Mapping[str, int],
    active: bool,
) -> None:
    """Replace the method's name, prices and whether it is offered (its code stays)."""
    async with uow:
        method = await uow.session.get(ShippingMethod, method_id, with_for_update=True)
        if method is None:
            raise ShippingMethodNotFound()
        method.name, method.active = name, active
        method.version += 1
        await uow.session.execute(delete(ShippingPrice).where(ShippingPrice.method_id == method_id))
        await _put_prices(uow, method_id, prices)
        await uow.commit()


async def _put_prices(uow: UnitOfWork, method_id: uuid.UUID, prices: Mapping[str, int]) -> None:
    if prices:
        await uow.session.execute(
            insert(ShippingPrice).values(
                [
                    {"method_id": method_id, "currency": currency, "price_minor": price}
                    for currency, price in sorted(prices.items())
                ]
            )
        )


async def set_tax_rate(uow: UnitOfWork, *, country: str, rate_bp: int) -> None:
    if country not in COUNTRIES:
        raise Invalid(
            "Not an ISO 3166-1 alpha-2 country code.",
            errors=[{"in": "path", "pointer": "/country", "detail": "unknown country"}],
        )
    async with uow:
        await uow.session.execute(
            insert(TaxRate)
            .values(country=country, rate_bp=rate_bp)
            .on_conflict_do_update(
                index_elements=[TaxRate.country],
                set_={
                    "rate_bp": rate_bp,
                    "version": TaxRate.version + 1,
                    "updated_at": utc_now(),
                },
            )
        )
        await uow.commit()


async def delete_tax_rate(uow: UnitOfWork, *, country: str) -> None:
    """Stop shipping to `country` (carts there can no longer check out)."""
    async with uow:
        result = await uow.session.execute(delete(TaxRate).where(TaxRate.country == country))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NoTaxRate()
        await uow.commit()
