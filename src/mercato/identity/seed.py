"""Generated users for development and benchmarks (`mercato seed users`), loaded by COPY.

Deterministic for a given `seed`. Every generated account shares one password (hashed once:
hashing a million passwords would take hours, and these accounts are test data); the
command refuses to run in production.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg

from mercato.platform.ids import uuid7

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amara",
    "Anna",
    "Arjun",
    "Ayesha",
    "Barbara",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Dmitri",
    "Elena",
    "Emeka",
    "Fatima",
    "Felix",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Ivan",
    "Jamal",
    "Jin",
    "Julia",
    "Kai",
    "Kenji",
    "Lars",
    "Leila",
    "Lucia",
    "Malik",
    "Maria",
    "Mateo",
    "Mei",
    "Mohammed",
    "Nadia",
    "Nia",
    "Noah",
    "Olga",
    "Omar",
    "Priya",
    "Rafael",
    "Rosa",
    "Sakura",
    "Samir",
    "Sofia",
    "Tariq",
    "Thea",
    "Tomas",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zainab",
    "Zoe",
]
LAST_NAMES = [
    "Abbott",
    "Adeyemi",
    "Almeida",
    "Andersen",
    "Bauer",
    "Bianchi",
    "Brown",
    "Chen",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Gonzalez",
    "Haddad",
    "Hansen",
    "Hopper",
    "Ivanova",
    "Jansen",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Lee",
    "Lopez",
    "Lovelace",
    "Martin",
    "Meyer",
    "Moreau",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Park",
    "Patel",
    "Perez",
    "Petrov",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Turing",
    "Walker",
    "Wang",
    "Weber",
    "Wong",
    "Yilmaz",
]
DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "shop.example")
USER_COLUMNS = (
    "id",
    "email",
    "email_verified_at",
    "password_hash",
    "name",
    "status",
    "created_at",
    "updated_at",
)
SPAN = dt.timedelta(days=3 * 365)
SEEDED_PASSWORD = "seeded accounts share this"  # noqa: S105 - development data only


@dataclass(frozen=True, slots=True)
class SeedPlan:
    count: int
    seed: int
    password_hash: str
    batch: int = 20_000
    # Accounts are created over the three years up to this moment.
    until: dt.datetime = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def generate_users(plan: SeedPlan) -> Iterator[tuple[tuple[object, ...], str]]:
    """(identity_user row, role) per account; unique emails (the sequence number)."""
    rng = random.Random(plan.seed)  # noqa: S311 - reproducible test data, not secrets
    start = plan.until - SPAN
    step = SPAN / max(plan.count, 1)
    for n in range(plan.count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = start + step * n + dt.timedelta(seconds=rng.random() * 60)
        user_id = uuid7(millis=int(created.timestamp() * 1000), random_bits=rng.getrandbits(80))
        verified = (
            created + dt.timedelta(minutes=rng.randint(1, 600)) if rng.random() < 0.8 else None
        )
        status = "disabled" if rng.random() < 0.02 else "active"
        email = f"{first}.{last}.{n}@{rng.choice(DOMAINS)}".lower()
        row = (
            user_id,
            email,
            verified,
            plan.password_hash,
            f"{first} {last}",
            status,
            created,
            created,
        )
        yield row, ("staff" if rng.random() < 0.005 else "customer")


async def seed_users(
    connection: asyncpg.Connection, plan: SeedPlan, *, progress: Callable[[int], None]
) -> int:
    """COPY the generated accounts in batches, one transaction per batch; returns how many."""
    loaded = 0
    rows: list[tuple[object, ...]] = []
    roles: list[tuple[object, ...]] = []
    for row, role in generate_users(plan):
        rows.append(row)
        roles.append((row[0], role))
        if len(rows) == plan.batch:
            await _copy(connection, rows, roles)
            loaded += len(rows)
            progress(len(rows))
            rows, roles = [], []
    if rows:
        await _copy(connection, rows, roles)
        loaded += len(rows)
        progress(len(rows))
    await connection.execute("ANALYZE identity_user")
    await connection.execute("ANALYZE identity_user_role")
    return loaded


async def _copy(
    connection: asyncpg.Connection, rows: list[tuple[object, ...]], roles: list[tuple[object, ...]]
) -> None:
    async with connection.transaction():
        await connection.copy_records_to_table("identity_user", records=rows, columns=USER_COLUMNS)
        await connection.copy_records_to_table(
            "identity_user_role", records=roles, columns=("user_id", "role")
        )
