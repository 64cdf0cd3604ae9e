"""The policies of orders' routes; each alias enforces and declares one
(`mercato.platform.auth`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mercato.orders.services import OrdersServices
from mercato.platform.auth import Principal, require
from mercato.platform.deps import runtime_of

OWN_ORDERS = "orders:own"  # customers: their cart, their checkout, their orders
READ_ORDERS = "orders:read"
WRITE_ORDERS = "orders:write"  # shipping methods, tax rates; fulfil, cancel, refund
CART_POLICY = "default"

Customer = Annotated[Principal, Depends(require(OWN_ORDERS))]
OrdersReader = Annotated[Principal, Depends(require(READ_ORDERS))]
OrdersWriter = Annotated[Principal, Depends(require(WRITE_ORDERS))]


async def get_orders(request: Request) -> OrdersServices:
    return runtime_of(request.scope).services(OrdersServices)


OrdersDep = Annotated[OrdersServices, Depends(get_orders)]
