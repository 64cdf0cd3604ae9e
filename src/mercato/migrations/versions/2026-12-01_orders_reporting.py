"""Orders reporting and administration: the sales view (per day, currency, variant with its
product and category: units, gross, refunds) with the unique index that lets it be refreshed
CONCURRENTLY, and the indexes of the staff's order search (status, total).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Sales count on the day (UTC) an order was paid; refunds on the day they were made. A
# refund is of the order's total (goods, shipping and tax), so each line gets its share of
# it in proportion to its amount: `amount x line_total / total`, rounded down cumulatively
# along the lines (the lines' shares add up to exactly `floor(amount x subtotal / total)`,
# the goods' part). A full refund thus cancels the lines' gross exactly. Orders canceled
# before they were paid never sold anything; one paid after it was canceled is refunded at
# once, and counts neither as a sale nor as a refund. Products without a category are
# grouped under the nil UUID: a unique index over plain columns must cover every row.
SALES_VIEW = """
CREATE MATERIALIZED VIEW orders_sales_daily AS
WITH counted AS (
    SELECT o.id, o.currency, o.total_minor, o.paid_at
    FROM orders_order o
    WHERE o.paid_at IS NOT NULL AND o.status <> 'canceled'
),
sold AS (
    SELECT (c.paid_at AT TIME ZONE 'UTC')::date AS day, c.currency, l.variant_id,
           l.product_id, l.category_id, l.quantity::bigint AS units,
           l.line_total_minor AS gross_minor, 0::numeric AS refunds_minor
    FROM counted c JOIN orders_order_line l ON l.order_id = c.id
),
refunded AS (
    SELECT (h.at AT TIME ZONE 'UTC')::date AS day, c.currency, l.variant_id, l.product_id,
           l.category_id, 0::bigint AS units, 0::bigint AS gross_minor,
           floor(h.amount_minor::numeric * sum(l.line_total_minor) OVER share / c.total_minor)
           - floor(h.amount_minor::numeric
                   * (sum(l.line_total_minor) OVER share - l.line_total_minor)
                   / c.total_minor) AS refunds_minor
    FROM orders_order_history h
    JOIN counted c ON c.id = h.order_id
    JOIN orders_order_line l ON l.order_id = c.id
    WHERE h.amount_minor > 0
      AND h.to_status IN ('partially_refunded', 'refunded')
      AND c.total_minor > 0
    WINDOW share AS (PARTITION BY h.id ORDER BY l.position, l.variant_id)
)
SELECT day, currency, variant_id, product_id,
       coalesce(category_id, '00000000-0000-0000-0000-000000000000'::uuid) AS category_id,
       sum(units)::bigint AS units,
       sum(gross_minor)::bigint AS gross_minor,
       sum(refunds_minor)::bigint AS refunds_minor
FROM (SELECT * FROM sold UNION ALL SELECT * FROM refunded) AS movements
GROUP BY day, currency, variant_id, product_id, category_id
"""


def upgrade() -> None:
    op.execute(SALES_VIEW)
    # What REFRESH ... CONCURRENTLY needs (and what a report by day range reads).
    op.execute(
        "CREATE UNIQUE INDEX uq_orders_sales_daily ON orders_sales_daily"
        " (day, currency, variant_id, product_id, category_id)"
    )
    op.create_index(
        "ix_orders_order_status_created", "orders_order", ["status", "created_at", "id"]
    )
    op.create_index("ix_orders_order_total", "orders_order", ["total_minor", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_order_total", table_name="orders_order")
    op.drop_index("ix_orders_order_status_created", table_name="orders_order")
    op.execute("DROP MATERIALIZED VIEW orders_sales_daily")
