"""Customers' routes: the cart (signed in, or a guest with its `Cart-Token`), checkout,
and their own orders."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import orjson
import structlog
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from mercato.orders import carts, lifecycle, priced_carts
from mercato.orders.auth import OWN_ORDERS, Customer, OrdersDep
from mercato.orders.carts import CartLimits, CartOwner
from mercato.orders.checkout import Checkout, place_order
from mercato.orders.errors import CartNotFound, PaymentsUnavailable
from mercato.orders.reads import customer_orders, order_view
from mercato.orders.repository import OrdersReads
from mercato.orders.saga import customer_actor
from mercato.orders.saga_payments import create_intent_step, retry_create_intent_later
from mercato.orders.schemas import (
    CartOut,
    CheckoutIn,
    LineIn,
    OrderListParams,
    OrderOut,
    OrderSummaryOut,
    QuantityIn,
    ShippingIn,
    ShippingMethodOut,
)
from mercato.orders.services import OrdersServices
from mercato.platform.auth import Escalation, on_demand, public
from mercato.platform.deps import DatabaseDep, RuntimeDep, UnitOfWorkDep
from mercato.platform.idempotency import REPLAYED_HEADER, KeyClaim
from mercato.platform.listing import Page, link_header, next_page_url
from mercato.platform.runtime import Runtime

logger = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1", tags=["orders"])

CART_TOKEN = "Cart-Token"  # noqa: S105 - a header name
# A public route: guests carry their cart's token; a bearer token makes it the customer's.
CartCaller = Annotated[Escalation, Depends(on_demand(OWN_ORDERS))]
CartToken = Annotated[
    str | None,
    Header(
        alias=CART_TOKEN,
        min_length=16,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A guest cart's token (from POST /api/v1/cart)",
    ),
]


def _limits(orders: OrdersServices) -> CartLimits:
    return CartLimits(
        orders.settings.max_line_quantity,
        orders.settings.max_cart_lines,
        stock_counts_shown=orders.stock_counts_shown,
    )


async def cart_owner(
    request: Request,
    caller: CartCaller,
    orders: OrdersDep,
    runtime: RuntimeDep,
    token: CartToken = None,
) -> CartOwner:
    """Whose cart a request acts on. Signed in: the customer's (a guest token sent along
    is merged into it first, once). A guest: the cart of the token (404 without one)."""
    if "authorization" in request.headers:
        principal = await caller.require()
        if token is not None:
            await carts.merge_guest_cart(
                runtime.unit_of_work(),
                customer_id=principal.user_id,
                token=token,
                limits=_limits(orders),
                field_keys=orders.field_keys,
            )
        return CartOwner.customer(principal.user_id)
    if token is None:
        raise CartNotFound("Sign in, or open a guest cart with POST /api/v1/cart.")
    return CartOwner.guest(token)


CartOwnerDep = Annotated[CartOwner, Depends(cart_owner)]


async def _cart(
    runtime: Runtime, orders: OrdersServices, owner: CartOwner, *, cart_token: str | None = None
) -> CartOut:
    # The primary: the caller reads its own write.
    async with runtime.database.session() as session:
        priced = await priced_carts.read_cart(
            session,
            owner=owner,
            field_keys=orders.field_keys,
            stock_counts_shown=orders.stock_counts_shown,
        )
    return CartOut.of(priced, cart_token=cart_token)


@router.post("/cart", response_model=CartOut, summary="Open a cart (a guest's, with its token)")
async def open_cart(
    *,
    request: Request,
    caller: CartCaller,
    orders: OrdersDep,
    runtime: RuntimeDep,
    token: CartToken = None,
) -> CartOut:
    """Signed in: your cart. A guest: a new cart, whose `cart_token` is in this answer only
    (send it as `Cart-Token`; signing in with it merges the cart into yours)."""
    if "authorization" in request.headers or token is not None:
        owner = await cart_owner(request, caller, orders, runtime, token)
        return await _cart(runtime, orders, owner)
    _, new_token = await carts.create_guest_cart(runtime.unit_of_work())
    return await _cart(runtime, orders, CartOwner.guest(new_token), cart_token=new_token)


@router.get("/cart", response_model=CartOut, summary="The cart, priced now")
async def get_cart(
    *,
    owner: CartOwnerDep,
    orders: OrdersDep,
    runtime: RuntimeDep,
) -> CartOut:
    """Each line at today's price and availability: `price_changed` and `availability`
    say what changed since it was added (`changed` for the whole cart)."""
    return await _cart(runtime, orders, owner)


@router.post("/cart/lines", response_model=CartOut, summary="Add a variant to the cart")
async def add_line(
    *,
    body: LineIn,
    owner: CartOwnerDep,
    orders: OrdersDep,
    runtime: RuntimeDep,
) -> CartOut:
    await carts.add_line(
        runtime.unit_of_work(),
        owner=owner,
        variant_id=body.variant_id,
        quantity=body.quantity,
        currency=body.currency,
        limits=_limits(orders),
    )
    return await _cart(runtime, orders, owner)


@router.put("/cart/lines/{variant_id}", response_model=CartOut, summary="Change a line's quantity")
async def set_line(
    *,
    variant_id: uuid.UUID,
    body: QuantityIn,
    owner: CartOwnerDep,
    orders: OrdersDep,
    runtime: RuntimeDep,
) -> CartOut:
    await carts.set_line_quantity(
        runtime.unit_of_work(),
        owner=owner,
        variant_id=variant_id,
        quantity=body.quantity,
        limits=_limits(orders),
    )
    return await _cart(runtime, orders, owner)


@router.delete("/cart/lines/{variant_id}", response_model=CartOut, summary="Remove a line")
async def remove_line(
    *,
    variant_id: uuid.UUID,
    owner: CartOwnerDep,
    orders: OrdersDep,
    runtime: RuntimeDep,
) -> CartOut:
    await carts.remove_line(runtime.unit_of_work(), owner=owner, variant_id=variant_id)
    return await _cart(runtime, orders, owner)


@router.put("/cart/shipping", response_model=CartOut, summary="Set the shipping address and method")
async def set_shipping(
    *,
    body: ShippingIn,
    owner: CartOwnerDep,
    orders: OrdersDep,
    runtime: RuntimeDep,
) -> CartOut:
    """The address is stored encrypted; its country must have a tax rate to check out."""
    await carts.set_shipping(
        runtime.unit_of_work(),
        owner=owner,
        address=body.address,
        method_code=body.method,
        field_keys=orders.field_keys,
    )
    return await _cart(runtime, orders, owner)


@router.get(
    "/shipping-methods",
    response_model=list[ShippingMethodOut],
    summary="The shipping methods offered, with their prices",
    dependencies=[Depends(public())],
)
async def shipping_methods(database: DatabaseDep) -> list[ShippingMethodOut]:
    async with database.read_session() as session:
        reads = OrdersReads(session)
        methods = await reads.shipping_methods(active_only=True)
        prices = await reads.shipping_prices([method.id for method in methods])
    return [ShippingMethodOut.of(method, prices) for method in methods]


# --- checkout ----------------------------------------------------------------------------


@router.post(
    "/checkout",
    status_code=201,
    response_model=OrderOut,
    summary="Place the order: reserve the stock, prepare the payment (Idempotency-Key required)",
)
async def checkout(
    body: CheckoutIn,
    customer: Customer,
    request: Request,
    orders: OrdersDep,
    runtime: RuntimeDep,
) -> Response:
    """201: the order, `pending_payment`, its stock held until `reserved_until`; pay with
    `payment.confirm_url` (`payment.status` `pending`: the payment is being prepared,
    read the order again). A retry with the same key answers the same order."""
    placed = await place_order(
        Checkout(
            customer_id=customer.user_id,
            expected_total_minor=body.expected_total_minor,
            reservation_ttl=_ttl(orders),
            max_pending_orders=orders.settings.max_pending_orders,
        ),
        uow=runtime.unit_of_work(),
        claim=await KeyClaim.of(request, scope=f"orders:{customer.user_id}"),
        field_keys=orders.field_keys,
        render=_placed_answer,
    )
    if placed.order_id is None:  # a replay: the same order, as it is now
        order_id = uuid.UUID(orjson.loads(bytes(placed.response.body))["id"])
        # The first request may have died between its commit and its call to payments
        # (the client retries because it got no answer): the retry asks for the intent.
        await _prepare_payment(runtime, orders, order_id)
        return await _order_response(
            runtime, orders, order_id, status_code=placed.response.status_code, replayed=True
        )
    await _prepare_payment(runtime, orders, placed.order_id)
    return await _order_response(runtime, orders, placed.order_id, status_code=201)


async def _prepare_payment(runtime: Runtime, orders: OrdersServices, order_id: uuid.UUID) -> None:
    """Create the order's intent if it still has none (the payments key is the order id:
    one intent however often this runs); payments away, a job creates it later."""
    try:
        await create_intent_step(runtime.unit_of_work, orders.payments, order_id=order_id)
    except PaymentsUnavailable as unavailable:
        await retry_create_intent_later(
            runtime.unit_of_work(), order_id=order_id, error=unavailable.detail
        )


def _ttl(orders: OrdersServices) -> dt.timedelta:
    return dt.timedelta(seconds=orders.settings.reservation_ttl_s)


def _placed_answer(order_id: uuid.UUID) -> Response:
    """What the idempotency key keeps: the order's id only (a replay renders the order as
    it is then), so no address or other personal data sits in the key table for 24 h."""
    return JSONResponse(
        {"id": str(order_id)},
        status_code=201,
        headers={"Location": f"/api/v1/orders/{order_id}"},
    )


async def _order_response(
    runtime: Runtime,
    orders: OrdersServices,
    order_id: uuid.UUID,
    *,
    status_code: int = 200,
    replayed: bool = False,
) -> Response:
    async with runtime.database.session() as session:
        view = await order_view(
            session,
            order_id=order_id,
            customer_id=None,
            field_keys=orders.field_keys,
            payments_url=orders.settings.public_payments_url,
        )
    headers = {"Location": f"/api/v1/orders/{order_id}"} if status_code == 201 else {}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return JSONResponse(view.model_dump(mode="json"), status_code=status_code, headers=headers)


# --- the customer's orders ---------------------------------------------------------------------


@router.get("/orders", response_model=Page[OrderSummaryOut], summary="Your orders, newest first")
async def list_orders(
    params: Annotated[OrderListParams, Query()],
    customer: Customer,
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> Page[OrderSummaryOut]:
    # The primary: a customer lists right after checking out (read-your-writes).
    async with database.session() as session:
        items, cursor = await customer_orders(
            session, customer_id=customer.user_id, cursor=params.cursor, limit=params.limit
        )
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return Page[OrderSummaryOut](items=items, next=next_url)


@router.get("/orders/{order_id}", response_model=OrderOut, summary="One of your orders")
async def get_order(
    order_id: uuid.UUID, customer: Customer, orders: OrdersDep, database: DatabaseDep
) -> OrderOut:
    """Someone else's order is a 404, like a missing one."""
    async with database.session() as session:
        return await order_view(
            session,
            order_id=order_id,
            customer_id=customer.user_id,
            field_keys=orders.field_keys,
            payments_url=orders.settings.public_payments_url,
        )


@router.post(
    "/orders/{order_id}/cancel", response_model=OrderOut, summary="Cancel your unpaid order"
)
async def cancel_order(
    order_id: uuid.UUID,
    customer: Customer,
    orders: OrdersDep,
    runtime: RuntimeDep,
    uow: UnitOfWorkDep,
) -> Response:
    """Only while unpaid (409 once paid). The stock goes back on sale at once; the payment
    is canceled with the payments service."""
    await lifecycle.cancel_order(
        uow,
        order_id=order_id,
        actor=customer_actor(customer.user_id),
        customer_id=customer.user_id,
        reason="requested_by_customer",
    )
    return await _order_response(runtime, orders, order_id)
