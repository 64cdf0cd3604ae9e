"""Sales reporting: aggregates kept in a materialized view, refreshed concurrently by a job.

`orders_sales_daily` (migration 0013) holds, per day, currency, variant (with its product
and category): the units and gross sold on that day (orders by the day they were paid) and
the refunds made on that day (a partial refund is spread over the order's lines in
proportion to their amounts, so that the per-product figures add up to the order's). It is
refreshed with `REFRESH MATERIALIZED VIEW CONCURRENTLY`, which builds the new contents
beside the old and swaps the differences in under an EXCLUSIVE lock: readers (ACCESS SHARE)
are never blocked, they see the previous contents until the refresh commits. That needs a
unique index over plain columns covering every row (`uq_orders_sales_daily`).

The report reads only the view: sums over the asked days, grouped by what was asked
(always by currency: amounts in different currencies never add up), in keyset pages; and
says when the view was last refreshed (`orders_view_refresh`, written by the refresh).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.orders.models import ViewRefresh
from mercato.platform.db.database import Database
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import dependencies_of
from mercato.platform.jobs.tasks import MAINTENANCE_QUEUE
from mercato.platform.listing import (
    Sort,
    SortField,
    fetch_page,
    parse_str,
    parse_uuid,
)
from mercato.platform.validation import SafeLine

# The job queue's library is imported where tasks are registered or run (workers):
# an API process only writes job rows (`jobs/queue.py`).
if TYPE_CHECKING:
    import procrastinate


logger = structlog.get_logger(__name__)

VIEW: Final = "orders_sales_daily"
REFRESH_TASK: Final = "refresh_sales_report"
REFRESH_LOCK: Final = "orders:refresh-sales-report"
# Every five minutes: the report is at most that stale (an administrator may ask for a
# refresh at once: POST /api/v1/admin/reports/sales/refresh).
REFRESH_CRON: Final = "*/5 * * * *"
# A refresh recomputes the whole view: allow it far longer than a request's statement.
REFRESH_STATEMENT_TIMEOUT: Final = "10min"
MAX_REPORT_DAYS: Final = 366
# Products without a category are grouped under the nil UUID in the view (a keyset and a
# unique index both want a value); the report shows them as `category_id: null`.
NO_CATEGORY: Final = uuid.UUID(int=0)

# The view, for queries (not in `Base.metadata`: Alembic does not manage views' columns).
sales_daily = Table(
    VIEW,
    MetaData(),
    Column("day", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("variant_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("category_id", Uuid),
    Column("units", BigInteger, nullable=False),
    Column("gross_minor", BigInteger, nullable=False),
    Column("refunds_minor", BigInteger, nullable=False),
)

GroupBy = Literal["day", "product", "variant", "category"]
_GROUPS: Final[tuple[GroupBy, ...]] = ("day", "product", "variant", "category")
_GROUP_COLUMN: Final = {
    "day": "day",
    "product": "product_id",
    "variant": "variant_id",
    "category": "category_id",
}


class SalesReportParams(BaseModel):
    """Query parameters of the sales report; any other parameter is a 422."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: dt.date = Field(
        alias="from", description="First day (UTC) of the report, inclusive: 2026-12-01."
    )
    to: dt.date = Field(description="Last day (UTC) of the report, inclusive.")
    group_by: SafeLine = Field(
        default="day",
        max_length=100,
        description="Comma-separated among day, product, variant, category (always by"
        " currency too); '' for one total per currency.",
    )
    currency: SafeLine | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: SafeLine | None = Field(default=None, max_length=1024)

    @field_validator("group_by")
    @classmethod
    def _known_groups(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in _GROUPS]
        if unknown:
            raise ValueError("group by day, product, variant or category")
        if len(set(names)) != len(names):
            raise ValueError("a grouping appears twice")
        return ",".join(names)

    @model_validator(mode="after")
    def _a_bounded_range(self) -> SalesReportParams:
        if self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        if (self.to - self.from_).days >= MAX_REPORT_DAYS:
            raise ValueError(f"a report covers at most {MAX_REPORT_DAYS} days")
        return self

    def groups(self) -> tuple[GroupBy, ...]:
        """The asked groupings, in the report's canonical order."""
        asked = set(self.group_by.split(",")) if self.group_by else set()
        return tuple(group for group in _GROUPS if group in asked)


class SalesRow(BaseModel):
    """One group's figures; the groupings not asked for are null."""

    day: dt.date | None = None
    currency: str
    product_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    units: int
    gross_minor: int
    refunds_minor: int
    net_minor: int


async def sales_report(
    session: AsyncSession, params: SalesReportParams
) -> tuple[list[SalesRow], str | None]:
    """One page of the report and the cursor of the next."""
    groups = params.groups()
    columns = [sales_daily.c.currency, *(_group_column(g) for g in groups)]
    inner = select(
        *columns,
        func.sum(sales_daily.c.units).label("units"),
        func.sum(sales_daily.c.gross_minor).label("gross_minor"),
        func.sum(sales_daily.c.refunds_minor).label("refunds_minor"),
    ).where(sales_daily.c.day >= params.from_, sales_daily.c.day <= params.to)
    if params.currency is not None:
        inner = inner.where(sales_daily.c.currency == params.currency)
    grouped = inner.group_by(*columns).subquery("grouped")
    sort = _sort_on(grouped, groups)
    rows, cursor = await fetch_page(
        session, select(grouped), sort=sort, cursor=params.cursor, limit=params.limit
    )
    return [_row(row._mapping, groups) for row in rows], cursor


def _group_column(group: GroupBy) -> Any:
    """The view's column for a grouping; days as ISO text (a cursor carries them as JSON,
    and 'YYYY-MM-DD' sorts as the dates do)."""
    if group == "day":
        return func.to_char(sales_daily.c.day, "YYYY-MM-DD").label("day")
    return sales_daily.c[_GROUP_COLUMN[group]]


def _iso_day(value: Any) -> str:
    return dt.date.fromisoformat(parse_str(value)).isoformat()


def _sort_on(grouped: Any, groups: Sequence[GroupBy]) -> Sort:
    parsers = {
        "day": _iso_day,
        "product": parse_uuid,
        "variant": parse_uuid,
        "category": parse_uuid,
    }
    fields = {"currency": SortField(grouped.c.currency, parse_str)}
    for group in groups:
        fields[group] = SortField(grouped.c[_GROUP_COLUMN[group]], parsers[group])
    last = groups[-1] if groups else "currency"
    return Sort.parse(",".join(("currency", *groups)), allowed=fields, tiebreaker=fields[last])


def _row(row: Any, groups: Sequence[GroupBy]) -> SalesRow:
    values: dict[str, Any] = {}
    for group in groups:
        value = row[_GROUP_COLUMN[group]]
        if group == "day":
            value = dt.date.fromisoformat(value)
        elif group == "category" and value == NO_CATEGORY:
            value = None
        values[_GROUP_COLUMN[group]] = value
    gross, refunds = int(row["gross_minor"]), int(row["refunds_minor"])
    return SalesRow(
        currency=row["currency"],
        units=int(row["units"]),
        gross_minor=gross,
        refunds_minor=refunds,
        net_minor=gross - refunds,
        **values,
    )


# --- the refresh ------------------------------------------------------------------------


async def refresh_sales_view(database: Database) -> None:
    """Recompute the view without blocking its readers (see the module docstring), and
    record when in the same transaction: `refreshed_at` is the transaction's start, just
    before the refresh's snapshot, so the view holds every sale committed before it."""
    async with database.session() as session, session.begin():
        await session.execute(text(f"SET LOCAL statement_timeout = '{REFRESH_STATEMENT_TIMEOUT}'"))
        await session.execute(text(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {VIEW}"))
        recorded = insert(ViewRefresh).values(view_name=VIEW, refreshed_at=func.now())
        await session.execute(
            recorded.on_conflict_do_update(
                index_elements=[ViewRefresh.view_name],
                # Never backwards (refreshes queue on the view's lock, in any order).
                set_={
                    "refreshed_at": func.greatest(
                        ViewRefresh.refreshed_at, recorded.excluded.refreshed_at
                    )
                },
            )
        )


async def sales_view_refreshed_at(session: AsyncSession) -> dt.datetime | None:
    """When the sales view was last refreshed (None: never, since it was created)."""
    return await session.scalar(
        select(ViewRefresh.refreshed_at).where(ViewRefresh.view_name == VIEW)
    )


def refresh_job() -> JobRequest:
    """A refresh now (refreshes run one at a time: they share the job lock)."""
    return JobRequest(
        task_name=f"orders:{REFRESH_TASK}", queue=MAINTENANCE_QUEUE, args={}, lock=REFRESH_LOCK
    )


async def refresh_sales_report(context: procrastinate.JobContext) -> None:
    await refresh_sales_view(dependencies_of(context).database)
    logger.info("sales_report_refreshed")


async def refresh_sales_report_periodically(
    context: procrastinate.JobContext, timestamp: int
) -> None:
    await refresh_sales_report(context)


def add_tasks(tasks: procrastinate.Blueprint) -> None:
    """Put the refresh (on demand and every five minutes) into the orders blueprint. One
    refresh at a time: concurrent ones would queue on the view's lock anyway."""
    tasks.task(name=REFRESH_TASK, queue=MAINTENANCE_QUEUE, pass_context=True, lock=REFRESH_LOCK)(
        refresh_sales_report
    )
    tasks.periodic(cron=REFRESH_CRON, periodic_id="refresh-sales-report")(
        tasks.task(
            name="refresh_sales_report_periodically",
            queue=MAINTENANCE_QUEUE,
            pass_context=True,
            lock=REFRESH_LOCK,
        )(refresh_sales_report_periodically)
    )
