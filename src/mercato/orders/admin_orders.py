"""Orders for staff (`orders:read` to look, `orders:write` to change): search every order,
read one with its lines and its history, fulfil, cancel, refund; the sales report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from mercato.identity import accounts_with_email
from mercato.orders import lifecycle, reporting
from mercato.orders.admin_schemas import (
    AdminCancelIn,
    AdminOrderOut,
    AdminOrderSummary,
    OrderHistoryEntry,
    OrderHistoryOut,
    RefundIn,
    SalesReportOut,
)
from mercato.orders.admin_search import OrderCriteria, OrderSearchParams, order_search
from mercato.orders.auth import OrdersDep, OrdersReader, OrdersWriter
from mercato.orders.errors import OrderNotFound
from mercato.orders.models import Order
from mercato.orders.repository import OrdersReads
from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep, RuntimeDep, UnitOfWorkDep
from mercato.platform.idempotency import idempotent, required_key
from mercato.platform.listing import Page, fetch_page, link_header, next_page_url

router = APIRouter(prefix="/api/v1/admin", tags=["orders administration"])


@router.get("/orders", response_model=Page[AdminOrderSummary])
async def search_orders(
    *,
    reader: OrdersReader,
    params: Annotated[OrderSearchParams, Query()],
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> Page[AdminOrderSummary]:
    """Every customer's orders: by status, customer (id or email), creation time, total;
    newest first or by total; keyset pages."""
    sort = params.sorting()
    async with database.read_session() as session:
        customers: list[uuid.UUID] | None = None
        if params.email is not None:
            customers = await accounts_with_email(session, params.email)
        if params.customer_id is not None:
            asked = [params.customer_id]
            customers = asked if customers is None else [c for c in customers if c in asked]
        criteria = OrderCriteria(
            status=params.status.value if params.status is not None else None,
            customer_ids=customers,
            created_after=params.created_after,
            created_before=params.created_before,
            min_total=params.min_total,
            max_total=params.max_total,
            currency=params.currency,
        )
        rows, cursor = await fetch_page(
            session, order_search(criteria), sort=sort, cursor=params.cursor, limit=params.limit
        )
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return Page[AdminOrderSummary](
        items=[AdminOrderSummary.of(row[0]) for row in rows], next=next_url
    )


async def _order(database: Database, order_id: uuid.UUID) -> AdminOrderOut:
    """On the primary: staff who just changed the order see their change."""
    async with database.session() as session:
        reads = OrdersReads(session)
        order = await reads.order(order_id)
        if order is None:
            raise OrderNotFound()
        return AdminOrderOut.with_lines(order, await reads.order_lines(order_id))


@router.get("/orders/{order_id}", response_model=AdminOrderOut)
async def admin_order(
    order_id: uuid.UUID, reader: OrdersReader, database: DatabaseDep
) -> AdminOrderOut:
    """Any customer's order, with its lines."""
    return await _order(database, order_id)


@router.get("/orders/{order_id}/history", response_model=OrderHistoryOut)
async def order_history(
    order_id: uuid.UUID, reader: OrdersReader, database: DatabaseDep
) -> OrderHistoryOut:
    """Every change of the order, oldest first: transition, actor, time (and the amount of
    a refund)."""
    async with database.read_session() as session:
        reads = OrdersReads(session)
        if await session.get(Order, order_id) is None:
            raise OrderNotFound()
        entries = await reads.history(order_id)
    return OrderHistoryOut(
        order_id=order_id, entries=[OrderHistoryEntry.of(entry) for entry in entries]
    )


# --- changes ----------------------------------------------------------------------------


@router.post("/orders/{order_id}/fulfil", response_model=AdminOrderOut)
async def fulfil_order(
    order_id: uuid.UUID, writer: OrdersWriter, uow: UnitOfWorkDep, database: DatabaseDep
) -> AdminOrderOut:
    """A paid order was shipped (409 from any other status)."""
    await lifecycle.mark_fulfilled(
        uow, order_id=order_id, actor=lifecycle.admin_actor(writer.user_id)
    )
    return await _order(database, order_id)


@router.post("/orders/{order_id}/cancel", response_model=AdminOrderOut)
async def cancel_order(
    *,
    order_id: uuid.UUID,
    body: AdminCancelIn | None = None,
    writer: OrdersWriter,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> AdminOrderOut:
    """Cancel an unpaid order: its stock is released, its payment canceled (409 once paid:
    refund it instead)."""
    await lifecycle.cancel_order(
        uow,
        order_id=order_id,
        actor=lifecycle.admin_actor(writer.user_id),
        reason=(body or AdminCancelIn()).reason,
    )
    return await _order(database, order_id)


@router.post("/orders/{order_id}/refunds", response_model=AdminOrderOut)
async def refund_order(
    *,
    order_id: uuid.UUID,
    body: RefundIn,
    writer: OrdersWriter,
    request: Request,
    runtime: RuntimeDep,
    orders: OrdersDep,
    database: DatabaseDep,
) -> Response:
    """Refund a paid order, all that is left or `amount_minor` of it, through the payments
    service. Idempotency-Key required: the same key never refunds twice (here, and at
    payments, whose key is derived from it)."""
    key = required_key(request)
    async with idempotent(request, database, scope=f"user:{writer.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        await lifecycle.refund_order(
            runtime.unit_of_work,
            orders.payments,
            order_id=order_id,
            amount_minor=body.amount_minor,
            actor=lifecycle.admin_actor(writer.user_id),
            key=key,
        )
        refunded = await _order(database, order_id)
        return await guard.finish(JSONResponse(refunded.model_dump(mode="json")))


# --- the sales report ---------------------------------------------------------------------


@router.get("/reports/sales", response_model=SalesReportOut)
async def sales_report(
    *,
    reader: OrdersReader,
    params: Annotated[reporting.SalesReportParams, Query()],
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> SalesReportOut:
    """Units, gross and refunds per day, product, variant or category (and currency),
    from the sales view (refreshed every five minutes; it never blocks this read), and
    when it was last refreshed (`refreshed_at`)."""
    async with database.read_session() as session:
        items, cursor = await reporting.sales_report(session, params)
        refreshed_at = await reporting.sales_view_refreshed_at(session)
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return SalesReportOut(
        from_=params.from_,
        to=params.to,
        group_by=list(params.groups()),
        refreshed_at=refreshed_at,
        items=items,
        next=next_url,
    )


@router.post("/reports/sales/refresh", status_code=202, response_class=Response)
async def refresh_sales_report(writer: OrdersWriter, uow: UnitOfWorkDep) -> Response:
    """Refresh the sales view now (a job; at most one waits at a time)."""
    async with uow:
        uow.defer(reporting.refresh_job())
        await uow.commit()
    return Response(status_code=202)
