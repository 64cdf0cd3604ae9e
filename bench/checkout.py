"""Checkout throughput: Mercato's checkout transaction against pgbench running its SQL.

Mercato: `orders.checkout.place_order`, the transaction of `POST /api/v1/checkout` (claim
the Idempotency-Key, lock and price the cart, reserve the stock through catalog's surface,
write the order, its lines, the saga row and the history, empty the cart, store the answer
with the key, and the outbox events), called by 8 concurrent tasks on one event loop, each
on its own pooled connection, for `duration_s`. The payments call that follows the commit
is not part of it (it is another service's work).

Database limit: pgbench, 8 clients, `-M prepared`, the same statements in the same order
(`checkout_sql`, written from what `place_order` sends: `captured_statements` prints it,
and the run checks the statement counts agree), on the same data.

Data: 200 variants with ample stock; one cart per checkout, 2 lines each (variants 2k+1 and
2k+2 of cart n, so overlapping carts lock rows in the same order). Rounds interleaved
(Mercato, pgbench, ...). At the end, zero oversell is asserted: no variant has more reserved
than on hand, and every variant's `reserved` equals the units of the pending orders' lines.
A last-items run follows: 40 concurrent checkouts for a variant with 10 units make exactly
10 orders.

Products are made by the catalog's own use case (each with its default variant); carts are
written straight into orders' tables (what the cart use cases make, one by one).
"""

# ruff: noqa: E501 - checkout_sql writes a pgbench script: one statement per line.
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import random
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from starlette.responses import JSONResponse, Response

from bench.support import Load, percentile, pgbench_load, require_tool
from mercato.catalog import OutOfStock
from mercato.catalog.products import create_product
from mercato.catalog.write_schemas import ProductIn
from mercato.modules import MODULES
from mercato.orders import shipping
from mercato.orders.addresses import ShippingAddress, seal_address
from mercato.orders.carts import CART_TABLE
from mercato.orders.checkout import Checkout, place_order
from mercato.orders.services import OrdersServices
from mercato.platform.config import DatabaseSettings, Environment, Settings
from mercato.platform.idempotency import KeyClaim
from mercato.platform.jobs.runtime import libpq_url
from mercato.platform.runtime import Runtime, open_runtime

CONCURRENCY = 8
VARIANTS = 200
STOCK = 10_000_000
LAST_UNITS = 10
LAST_BUYERS = 40
TTL = dt.timedelta(minutes=15)
ADDRESS = ShippingAddress(
    name="Ada Lovelace", line1="12 rue des Lilas", city="Lyon", postal_code="69003", country="FR"
)


def _id(kind: int, n: int) -> uuid.UUID:
    """Deterministic ids: pgbench builds the same ones from the cart number (`_ID_SQL`)."""
    return uuid.UUID(f"00000000-0000-{kind:04x}-0000-{n:012x}")


CUSTOMER, CART = 1, 2


def _variants_of(n: int) -> tuple[int, int]:
    pair = n % (VARIANTS // 2)
    return 2 * pair + 1, 2 * pair + 2


# The statements `place_order` sends for cart :n, in its order (`captured_statements`
# prints them): claim the key; lock the cart; under the lock, its lines with the shipping
# price, the tax rate and the customer's unpaid orders; catalog's hold (the variants'
# stock rows locked in variant-id order, priced); the reservation (one UPDATE for both
# lines); the order with its lines, saga row and history, the cart emptied (one
# statement); store the answer with the key; the outbox rows (a stock change per
# product, the order placed) with their NOTIFY. Customer and cart ids are built from the
# cart's number as the seed made them, variant and product ids taken from arrays of the
# seeded ones (constants of the prepared statements), the order id and the key from a
# random number and the client's id. Where Mercato binds a value computed in Python (the
# prices, the sealed address, the outbox envelopes), the script writes a constant of the
# same shape; the envelopes' ids are drawn in SQL (`gen_random_uuid()`), being keys.
_UUID = (
    "CAST('00000000-0000-{kind}-0000-' || lpad(to_hex(CAST(:{var} AS bigint)), 12, '0') AS uuid)"
)
_CUSTOMER = _UUID.format(kind="0001", var="n")
_CART = _UUID.format(kind="0002", var="n")
_ORDER = "CAST(md5(CAST(:k AS text)) AS uuid)"
_KEY = "CAST(:k AS text)"
_SCOPE = f"'orders:' || {_CUSTOMER}"
_ENVELOPE = json.dumps(
    {
        "id": "00000000-0000-7000-8000-000000000000",
        "name": "orders.order.placed",
        "version": 1,
        "occurred_at": "2026-12-01T00:00:00+00:00",
        "aggregate_type": "orders.order",
        "aggregate_id": "00000000-0000-7000-8000-000000000000",
        "correlation_id": None,
        "causation_id": None,
        "payload": {
            "order_id": "00000000-0000-7000-8000-000000000000",
            "customer_id": "00000000-0000-0001-0000-000000000001",
            "currency": "EUR",
            "total_minor": 4200,
            "lines": [
                {"variant_id": "00000000-0000-0003-0000-000000000001", "quantity": 1},
                {"variant_id": "00000000-0000-0003-0000-000000000002", "quantity": 2},
            ],
            "reserved_until": "2026-12-01T00:15:00+00:00",
        },
    }
)


_SEALED = json.dumps(
    {
        "v": 1,
        "kid": "k1",
        "nonce": "bm9uY2Vub25jZQ",
        "ct": "Y2lwaGVydGV4dCBvZiB0aGUgc2hpcHBpbmcgYWRkcmVzcywgYWJvdXQgYSBodW5kcmVkIGJ5dGVzIGxvbmcgb3Igc28",
    }
)


def checkout_sql(variants: Sequence[uuid.UUID], products: Sequence[uuid.UUID]) -> str:
    """The pgbench script of one checkout over the seeded `variants` (and their products)."""

    def pick(ids: Sequence[uuid.UUID], var: str) -> str:
        return f"(CAST('{{{','.join(map(str, ids))}}}' AS uuid[]))[CAST(:{var} AS int)]"

    v1, v2, p1, p2 = (
        pick(variants, "v1"),
        pick(variants, "v2"),
        pick(products, "v1"),
        pick(products, "v2"),
    )
    return f"""\\set n random(1, :carts)
\\set pair (:n % :pairs)
\\set v1 (2 * :pair + 1)
\\set v2 (2 * :pair + 2)
\\set k random(1, 1000000000000) * 64 + :client_id
BEGIN;
INSERT INTO platform_idempotency_key (scope, key, fingerprint) VALUES ({_SCOPE}, {_KEY}, '\\x00') ON CONFLICT DO NOTHING RETURNING key;
SELECT id, currency, shipping_method_id, shipping_country, shipping_address_encrypted FROM orders_cart WHERE customer_id = {_CUSTOMER} FOR UPDATE;
SELECT l.variant_id, l.quantity, m.code AS method_code, m.active AS method_active, sp.price_minor AS shipping_minor, t.rate_bp, (SELECT count(*) FROM orders_order o WHERE o.customer_id = {_CUSTOMER} AND o.status = 'pending_payment') AS pending_orders FROM (VALUES (1)) AS cart(one) LEFT JOIN orders_cart_line l ON l.cart_id = {_CART} LEFT JOIN orders_shipping_method m ON m.id = CAST(:method AS uuid) LEFT JOIN orders_shipping_price sp ON sp.method_id = m.id AND sp.currency = 'EUR' LEFT JOIN orders_tax_rate t ON t.country = 'FR' ORDER BY l.added_at, l.variant_id;
SELECT s.variant_id, s.on_hand, s.reserved, v.product_id, p.slug, p.category_id, v.sku, p.name, array_to_string(v.option_values, ' / ') AS title, pr.amount_minor, p.status = 'active' AND v.status = 'active' AS purchasable FROM catalog_variant_stock s JOIN catalog_variant v ON v.id = s.variant_id JOIN catalog_product p ON p.id = v.product_id LEFT JOIN catalog_variant_price pr ON pr.variant_id = v.id AND pr.currency = 'EUR' WHERE s.variant_id = ANY(ARRAY[{v1}, {v2}]) AND v.deleted_at IS NULL AND p.deleted_at IS NULL ORDER BY s.variant_id FOR UPDATE OF s;
UPDATE catalog_variant_stock AS s SET reserved = s.reserved + l.q, updated_at = now() FROM unnest(ARRAY[{v1}, {v2}], ARRAY[1, 2]) AS l(variant_id, q) WHERE s.variant_id = l.variant_id;
WITH placed AS (INSERT INTO orders_order (id, customer_id, status, currency, subtotal_minor, shipping_minor, tax_minor, total_minor, tax_rate_bp, shipping_method_code, shipping_country, shipping_address_encrypted, reserved_until, created_at, updated_at) VALUES ({_ORDER}, {_CUSTOMER}, 'pending_payment', 'EUR', 3000, 500, 700, 4200, 2000, 'standard', 'FR', '{_SEALED}', now() + interval '15 minutes', now(), now()) RETURNING id), order_lines AS (INSERT INTO orders_order_line (order_id, variant_id, product_id, category_id, position, sku, product_name, title, unit_price_minor, quantity, line_total_minor) SELECT placed.id, l.variant_id, l.product_id, l.category_id, l.n - 1, l.sku, l.product_name, l.title, l.unit_price_minor, l.quantity, l.unit_price_minor * l.quantity FROM placed, unnest(ARRAY[{v1}, {v2}], ARRAY[{p1}, {p2}], CAST(ARRAY[NULL, NULL] AS uuid[]), ARRAY['BENCH-' || CAST(:v1 AS text), 'BENCH-' || CAST(:v2 AS text)], ARRAY['Bench product', 'Bench product'], ARRAY['', ''], CAST(ARRAY[1000, 1000] AS bigint[]), ARRAY[1, 2]) WITH ORDINALITY AS l(variant_id, product_id, category_id, sku, product_name, title, unit_price_minor, quantity, n)), saga AS (INSERT INTO orders_checkout_saga (order_id, stock, payment) SELECT id, 'reserved', 'intent_pending' FROM placed), history AS (INSERT INTO orders_order_history (order_id, from_status, to_status, event, actor) SELECT id, NULL, 'pending_payment', 'placed', 'customer:' || {_CUSTOMER} FROM placed), emptied AS (DELETE FROM orders_cart_line WHERE cart_id = {_CART}) UPDATE orders_cart SET version = version + 1, updated_at = now() WHERE id = {_CART};
UPDATE platform_idempotency_key SET completed_at = now(), response_status = 201, response_headers = '{{"content-type": "application/json"}}', response_body = convert_to('{{"id": "' || {_ORDER} || '", "status": "pending_payment"}}', 'UTF8') WHERE scope = {_SCOPE} AND key = {_KEY};
WITH staged AS (INSERT INTO platform_outbox (id, name, version, aggregate_type, aggregate_id, envelope) SELECT CAST(e ->> 'id' AS uuid), e ->> 'name', CAST(e ->> 'version' AS integer), e ->> 'aggregate_type', e ->> 'aggregate_id', e FROM jsonb_array_elements((SELECT jsonb_agg(jsonb_set(CAST('{_ENVELOPE}' AS jsonb), '{{id}}', to_jsonb(gen_random_uuid()))) FROM generate_series(1, 3))) WITH ORDINALITY AS t(e, n) ORDER BY n) SELECT pg_notify('mercato_outbox', '');
END;
"""


# Statements of one transaction of the script: as many as `place_order` sends (BEGIN and
# COMMIT not counted on either side; checked at every run).
PGBENCH_STATEMENTS = 8


@dataclass(frozen=True)
class CheckoutResults:
    rounds: int
    duration_s: float
    mercato: list[Load]
    # This process's CPU time per Mercato checkout, per round (`time.process_time()`).
    mercato_cpu_ms: list[float]
    ceiling: list[Load]
    pgbench: list[Load]
    mercato_statements: int
    last_items_orders: int
    orders_checked: int

    def ratios(self, ours: str = "mercato", theirs: str = "pgbench") -> list[float]:
        return [
            a.requests_per_s / b.requests_per_s
            for a, b in zip(getattr(self, ours), getattr(self, theirs), strict=True)
        ]


def _render(order_id: uuid.UUID) -> Response:
    return JSONResponse({"id": str(order_id), "status": "pending_payment"}, status_code=201)


def _claim(n: int) -> KeyClaim:
    key = f"bench-{n}"
    return KeyClaim(f"orders:{_id(CUSTOMER, n)}", key, hashlib.sha256(key.encode()).digest())


async def _checkout(runtime: Runtime, n: int) -> None:
    await place_order(
        Checkout(_id(CUSTOMER, n), None, TTL),
        uow=runtime.unit_of_work(),
        claim=_claim(n),
        field_keys=runtime.services(OrdersServices).field_keys,
        render=_render,
    )


# --- data ----------------------------------------------------------------------------------


async def _seed_variants(runtime: Runtime, *, count: int, on_hand: int) -> list[uuid.UUID]:
    """`count` active products made by the catalog's own use case, each with its default
    variant priced 10.00 EUR and `on_hand` units; their variant ids, in creation order."""
    variants = []
    for _ in range(count):
        tag = uuid.uuid4().hex[:12]
        product_id = await create_product(
            ProductIn(
                slug=f"bench-{tag}",
                name="Bench product",
                status="active",
                sku=f"BENCH-{tag}",
                price_minor=1000,
                currency="EUR",
                on_hand=on_hand,
            ),
            uow=runtime.unit_of_work(),
        )
        async with runtime.database.session() as session:
            variant = await session.scalar(
                text("SELECT id FROM catalog_variant WHERE product_id = :id"), {"id": product_id}
            )
        assert isinstance(variant, uuid.UUID)
        variants.append(variant)
    return variants


async def _seed_carts(
    runtime: Runtime,
    numbers: range,
    variants: Sequence[uuid.UUID],
    lines: dict[uuid.UUID, int] | None = None,
) -> None:
    """A customer's cart per number, ready for checkout: `lines` (variant → units; by
    default 1 of variant 2k+1 and 2 of 2k+2, numbered from 1), the address sealed for it."""
    keys = runtime.services(OrdersServices).field_keys
    async with runtime.database.session() as session, session.begin():
        method = await session.scalar(
            text("SELECT id FROM orders_shipping_method WHERE code = 'standard'")
        )
        carts = []
        cart_lines = []
        for n in numbers:
            sealed = seal_address(keys, ADDRESS, table=CART_TABLE, row_id=_id(CART, n))
            carts.append(
                {
                    "id": _id(CART, n),
                    "customer": _id(CUSTOMER, n),
                    "method": method,
                    "sealed": json.dumps(sealed),
                }
            )
            if lines is None:
                first, second = _variants_of(n)
                chosen = {variants[first - 1]: 1, variants[second - 1]: 2}
            for variant, quantity in (lines or chosen).items():
                cart_lines.append({"cart": _id(CART, n), "v": variant, "q": quantity})
        await session.execute(
            text(
                "INSERT INTO orders_cart (id, customer_id, currency, shipping_method_id,"
                " shipping_country, shipping_address_encrypted)"
                " VALUES (:id, :customer, 'EUR', :method, 'FR', CAST(:sealed AS jsonb))"
            ),
            carts,
        )
        await session.execute(
            text(
                "INSERT INTO orders_cart_line (cart_id, variant_id, quantity,"
                " added_unit_price_minor) VALUES (:cart, :v, :q, 1000)"
            ),
            cart_lines,
        )


async def _prepare(runtime: Runtime) -> list[uuid.UUID]:
    await shipping.create_shipping_method(
        runtime.unit_of_work(), code="standard", name="Standard", prices={"EUR": 500}, active=True
    )
    await shipping.set_tax_rate(runtime.unit_of_work(), country="FR", rate_bp=2000)
    return await _seed_variants(runtime, count=VARIANTS, on_hand=STOCK)


# --- the two loads -------------------------------------------------------------------------


async def _mercato_load(
    runtime: Runtime, carts: Iterator[int], duration_s: float
) -> tuple[Load, float]:
    """The load, and the CPU time this process spent per checkout (ms)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def buyer() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            n = next(carts)
            started = time.perf_counter()
            try:
                await _checkout(runtime, n)
            except OutOfStock:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(buyer() for _ in range(CONCURRENCY)))
    elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    latencies.sort()
    load = Load(
        requests_per_s=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        errors=errors,
    )
    return load, cpu_s * 1000 / max(len(latencies), 1)


def pgbench_command(
    database_url: str, script: Path, *, carts: int, method: uuid.UUID, duration_s: float
) -> list[str]:
    return [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        f"-c{CONCURRENCY}",
        "-j1",
        f"-T{int(duration_s)}",
        "-D",
        f"carts={carts}",
        "-D",
        f"pairs={VARIANTS // 2}",
        "-D",
        f"method={method}",
        "-f",
        str(script),
        libpq_url(database_url),
    ]


def _pgbench_load(command: list[str], workdir: Path) -> Load:
    logs = workdir / "pgbench-log"
    logs.mkdir(exist_ok=True)
    for old in logs.iterdir():
        old.unlink()
    command = [*command[:-1], "-l", f"--log-prefix={logs / 'tx'}", command[-1]]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return pgbench_load(output, logs)


# --- the Python ceiling: the same statements from asyncpg, no ORM --------------------------

_VARIABLE = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class _Statement:
    sql: str
    names: list[str]


def _ceiling_statements(script: str) -> list[_Statement]:
    """The script's statements with `$n` parameters in place of pgbench's variables."""
    statements = []
    for line in script.splitlines():
        if not line or line.startswith("\\") or line in {"BEGIN;", "END;"}:
            continue
        names: list[str] = []

        def parameter(match: re.Match[str], names: list[str] = names) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        statements.append(_Statement(_VARIABLE.sub(parameter, line.rstrip(";")), names))
    return statements


async def _ceiling_load(
    database_url: str, script: str, *, carts: int, method: uuid.UUID, duration_s: float
) -> Load:
    """asyncpg (8 connections, prepared statements) sending the script's transaction:
    what Python can do with the same SQL before any ORM or use-case code."""
    import asyncpg  # noqa: PLC0415 - only this scenario needs the bare driver

    statements = _ceiling_statements(script)
    pool = await asyncpg.create_pool(libpq_url(database_url), min_size=8, max_size=8)
    latencies: list[float] = []
    deadline = time.perf_counter() + duration_s
    convert = {"int8": int, "int4": int, "text": str, "uuid": uuid.UUID, "varchar": str}

    async def client(client_id: int) -> None:
        async with pool.acquire() as connection:
            prepared = [await connection.prepare(statement.sql) for statement in statements]
            types = [[t.name for t in p.get_parameters()] for p in prepared]
            while time.perf_counter() < deadline:
                n = random.randint(1, carts)
                pair = n % (VARIANTS // 2)
                values: dict[str, object] = {
                    "n": n,
                    "v1": 2 * pair + 1,
                    "v2": 2 * pair + 2,
                    "k": random.randint(1, 10**12) * 64 + client_id,
                    "method": method,
                }
                started = time.perf_counter()
                async with connection.transaction():
                    for statement, query, kinds in zip(statements, prepared, types, strict=True):
                        await query.fetch(
                            *(
                                convert[kind](str(values[name]))
                                for name, kind in zip(statement.names, kinds, strict=True)
                            )
                        )
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(client_id) for client_id in range(CONCURRENCY)))
    finally:
        await pool.close()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Load(len(latencies) / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99))


# --- checks -------------------------------------------------------------------------------


# Not the checkout's: transaction control, and the type introspection asyncpg runs on a
# connection the first time it meets a type (sent around it, once per connection).
_NOT_THE_CHECKOUTS = re.compile(
    r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b"
    r"|^WITH RECURSIVE typeinfo_tree\b"
    r"|^SELECT (current_setting\('jit'\)|set_config\('jit')",
    re.IGNORECASE,
)


async def captured_statements(runtime: Runtime, n: int) -> list[str]:
    """The SQL one checkout sends (cart `n`), in order: what `checkout_sql` mirrors. Both
    what goes through SQLAlchemy (its events) and what goes straight through the driver
    (compiled statements: asyncpg's query logger); not BEGIN and COMMIT."""
    statements: list[str] = []
    engine = runtime.database.primary.sync_engine

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    def capture_driver(record: Any) -> None:
        statements.append(" ".join(str(record.query).split()))

    def log_driver(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.driver_connection.add_query_logger(capture_driver)

    def unlog_driver(dbapi_connection: Any, record: Any) -> None:
        record.driver_connection.remove_query_logger(capture_driver)

    event.listen(engine, "before_cursor_execute", capture)
    event.listen(engine.pool, "checkout", log_driver)
    event.listen(engine.pool, "checkin", unlog_driver)
    try:
        await _checkout(runtime, n)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        event.remove(engine.pool, "checkout", log_driver)
        event.remove(engine.pool, "checkin", unlog_driver)
    return [statement for statement in statements if not _NOT_THE_CHECKOUTS.match(statement)]


async def _assert_no_oversell(runtime: Runtime) -> int:
    """No variant reserves more than it has, and each reserves exactly its pending orders'
    units (Mercato's and pgbench's orders alike). Answers how many orders were checked."""
    async with runtime.database.session() as session:
        oversold = await session.scalar(
            text(
                "SELECT count(*) FROM catalog_variant_stock"
                " WHERE reserved > on_hand OR reserved < 0"
            )
        )
        mismatched = await session.scalar(
            text(
                "SELECT count(*) FROM catalog_variant_stock i LEFT JOIN ("
                " SELECT l.variant_id, sum(l.quantity) AS units FROM orders_order_line l"
                " JOIN orders_order o ON o.id = l.order_id"
                " WHERE o.status = 'pending_payment' GROUP BY l.variant_id) p"
                " ON p.variant_id = i.variant_id"
                " WHERE i.reserved <> coalesce(p.units, 0)"
            )
        )
        orders = await session.scalar(text("SELECT count(*) FROM orders_order"))
    assert oversold == 0, f"{oversold} variants reserve more than they have"
    assert mismatched == 0, f"{mismatched} variants' reservations differ from their orders"
    return int(orders or 0)


async def _last_items(runtime: Runtime, first_cart: int) -> int:
    """LAST_BUYERS concurrent checkouts of one unit of a variant that has LAST_UNITS."""
    [last] = await _seed_variants(runtime, count=1, on_hand=LAST_UNITS)
    buyers = range(first_cart, first_cart + LAST_BUYERS)
    await _seed_carts(runtime, buyers, [last], lines={last: 1})

    async def buy(n: int) -> bool:
        try:
            await _checkout(runtime, n)
        except OutOfStock:
            return False
        return True

    placed = sum(await asyncio.gather(*(buy(n) for n in buyers)))
    assert placed == LAST_UNITS, f"{placed} orders for {LAST_UNITS} units"
    return placed


async def run(database_url: str, *, rounds: int, duration_s: float) -> CheckoutResults:
    require_tool("pgbench")
    workdir = Path(tempfile.mkdtemp(prefix="mercato-bench-checkout-"))
    script = workdir / "checkout.sql"
    settings = Settings(
        env=Environment.TEST,
        data_dir=workdir,
        database=DatabaseSettings(
            url=database_url, pool_size=CONCURRENCY, max_overflow=0, statement_timeout_ms=30_000
        ),
    )
    # Enough carts for the fastest round, and pgbench's own (drawn at random from theirs).
    mercato_carts = 2_000 * int(duration_s) * rounds
    pgbench_carts = 50_000
    async with open_runtime(settings, MODULES) as runtime:
        variants = await _prepare(runtime)
        async with runtime.database.session() as session:
            rows = await session.execute(
                text("SELECT id, product_id FROM catalog_variant WHERE id = ANY(:ids)"),
                {"ids": variants},
            )
            product_of = {row.id: row.product_id for row in rows}
        sql = checkout_sql(variants, [product_of[variant] for variant in variants])
        script.write_text(sql)
        await _seed_carts(runtime, range(1, pgbench_carts + 1), variants)
        first = pgbench_carts + 1
        await _seed_carts(runtime, range(first, first + mercato_carts + 1), variants)
        statements = await captured_statements(runtime, first)
        if len(statements) != PGBENCH_STATEMENTS:
            raise RuntimeError(
                f"place_order sends {len(statements)} statements, the script"
                f" {PGBENCH_STATEMENTS}: align checkout_sql with:\n" + "\n".join(statements)
            )
        async with runtime.database.session() as session:
            method = await session.scalar(
                text("SELECT id FROM orders_shipping_method WHERE code = 'standard'")
            )
        carts = iter(range(first + 1, first + mercato_carts + 1))
        mercato: list[Load] = []
        mercato_cpu_ms: list[float] = []
        ceiling: list[Load] = []
        pgbench: list[Load] = []
        command = pgbench_command(
            database_url, script, carts=pgbench_carts, method=method, duration_s=duration_s
        )
        for _ in range(rounds):
            load, cpu_ms = await _mercato_load(runtime, carts, duration_s)
            mercato.append(load)
            mercato_cpu_ms.append(cpu_ms)
            ceiling.append(
                await _ceiling_load(
                    database_url, sql, carts=pgbench_carts, method=method, duration_s=duration_s
                )
            )
            pgbench.append(await asyncio.to_thread(_pgbench_load, command, workdir))
        checked = await _assert_no_oversell(runtime)
        last = await _last_items(runtime, first + mercato_carts + 1)
        await _assert_no_oversell(runtime)
    return CheckoutResults(
        rounds=rounds,
        duration_s=duration_s,
        mercato=mercato,
        mercato_cpu_ms=mercato_cpu_ms,
        ceiling=ceiling,
        pgbench=pgbench,
        mercato_statements=len(statements),
        last_items_orders=last,
        orders_checked=checked,
    )


def report(results: CheckoutResults) -> str:
    def median(loads: list[Load], field: str) -> float:
        return float(statistics.median(float(getattr(load, field)) for load in loads))

    def spread(ratios: list[float]) -> str:
        return f"{statistics.median(ratios):.2f} ({min(ratios):.2f} to {max(ratios):.2f})"

    def row(name: str, loads: list[Load], statements: int) -> str:
        return (
            f"| {name} | {median(loads, 'requests_per_s'):,.0f} | {median(loads, 'p50_ms'):.1f}"
            f" | {median(loads, 'p99_ms'):.1f} | {statements} |"
        )

    ratios = results.ratios()
    lines = [
        f"Checkout, {CONCURRENCY} concurrent, {results.rounds} interleaved rounds of"
        f" {results.duration_s:.0f} s (medians; ratio range in brackets):",
        "",
        "| scenario | checkouts/s | p50 ms | p99 ms | statements per checkout |",
        "|---|---:|---:|---:|---:|",
        row("Mercato `place_order`", results.mercato, results.mercato_statements),
        row("Python ceiling: asyncpg, same SQL", results.ceiling, PGBENCH_STATEMENTS),
        row("pgbench, same SQL (`-M prepared`)", results.pgbench, PGBENCH_STATEMENTS),
        "",
        f"Mercato ÷ pgbench: {spread(ratios)}; per round:"
        f" {', '.join(f'{ratio:.2f}' for ratio in ratios)}."
        f" Mercato ÷ Python ceiling: {spread(results.ratios('mercato', 'ceiling'))};"
        f" Python ceiling ÷ pgbench: {spread(results.ratios('ceiling', 'pgbench'))}.",
        f"Mercato's CPU per checkout (this process, `time.process_time()`):"
        f" {statistics.median(results.mercato_cpu_ms):.2f} ms (per round:"
        f" {', '.join(f'{cpu:.2f}' for cpu in results.mercato_cpu_ms)}).",
        f"Zero oversell: {results.orders_checked:,} orders checked against the stock"
        f" (reserved = pending orders' units, never above on hand); last items:"
        f" {LAST_BUYERS} buyers for {LAST_UNITS} units made {results.last_items_orders} orders.",
        f"Errors: Mercato {sum(load.errors for load in results.mercato)},"
        f" pgbench {sum(load.errors for load in results.pgbench)}.",
    ]
    return "\n".join(lines)
