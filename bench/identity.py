"""Identity under load, against a real server process and wrk, with same-run baselines.

1. Admin user search on N seeded users (`GET /api/v1/admin/users`): wrk against Mercato,
   and pgbench running the very SQL the endpoint runs (compiled from the same code).
2. Logins/s against the Argon2id ceiling: how many verifications per second the same
   hasher (same parameters, same thread pool) does with nothing else going on.
3. p99 of `GET /api/v1/users/me` idle, and during a login flood (hashing must not stall
   the event loop).

Requires `wrk` (Debian: `apt-get install wrk`) and `pgbench` on PATH.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from bench.support import (
    CONNECTIONS,
    DURATION_S,
    Load,
    Server,
    lua_list,
    pgbench,
    require_tool,
    server_rss_mib,
    wrk,
    wrk_load,
)
from mercato.identity.search import USER_SORT_FIELDS, USER_TIEBREAKER, UserCriteria, user_search
from mercato.identity.seed import SEEDED_PASSWORD, SeedPlan, generate_users, seed_users
from mercato.platform.jobs.runtime import libpq_url
from mercato.platform.listing import Sort, page_statement
from mercato.platform.security.hashing import PasswordHasher

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench admin passphrase"

# Name fragments match ~1-2 % of accounts each (many rows, the newest 50 wanted); email
# fragments with a sequence number match a handful (few rows, found through the index).
SEARCHES = {
    "q = a name fragment": ["hopp", "lovel", "nakam", "kowal", "tanak", "okafo", "rossi"],
    "q = an email fragment": [".12345@", ".77777@", ".424242@", ".31337@", ".999999@"],
    "role=staff filter, no q": [],
}


@dataclass(frozen=True)
class SearchResult:
    scenario: str
    mercato: Load
    pgbench: Load

    @property
    def ratio(self) -> float:
        return self.mercato.requests_per_s / self.pgbench.requests_per_s


@dataclass(frozen=True)
class LoginResult:
    logins: Load
    argon2_per_s: float
    me_idle: Load
    me_during_logins: Load


@dataclass(frozen=True)
class Results:
    users: int
    seed_s: float
    searches: list[SearchResult]
    login: LoginResult
    principal_cache: bool
    api_workers: int = 1
    # Of the server process, after the searches, and after the login flood.
    rss_after_searches_mib: float = 0.0
    rss_after_logins_mib: float = 0.0


def _search_sql(criteria: UserCriteria) -> str:
    """The statement the endpoint runs for these criteria (first page, 50 rows)."""
    sort = Sort.parse("-created_at", allowed=USER_SORT_FIELDS, tiebreaker=USER_TIEBREAKER)
    statement = page_statement(user_search(criteria), sort=sort, cursor=None, limit=50).params(
        criteria.values
    )
    compiled = statement.compile(
        dialect=PGDialect_asyncpg(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    return f"{compiled};\n"


def _search_script(workdir: Path, name: str, terms: Sequence[str], token: str) -> Path:
    queries = [f"/api/v1/admin/users?limit=50&q={term}" for term in terms] or [
        "/api/v1/admin/users?limit=50&role=staff"
    ]
    script = workdir / f"{name}.lua"
    script.write_text(
        f"local paths = {lua_list(queries)}\n"
        f'local headers = {{["Authorization"] = "Bearer {token}"}}\n'
        "request = function()\n"
        '  return wrk.format("GET", paths[math.random(#paths)], headers)\n'
        "end\n"
    )
    return script


# --- scenarios ------------------------------------------------------------------------


async def _admin_token(base: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


def _create_admin(database_url: str, data_dir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "mercato", "createadmin", "--email", ADMIN_EMAIL],
        input=ADMIN_PASSWORD + "\n",
        env={**os.environ, "DATABASE_URL": database_url, "MERCATO_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        check=True,
    )


async def _argon2_ceiling(password_hash: str, seconds: float = 5.0) -> float:
    """Verifications per second of the server's hasher setup, alone on the machine."""
    hasher = PasswordHasher()
    done = 0
    deadline = time.monotonic() + seconds

    async def verify_until_deadline() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await hasher.verify(password_hash, SEEDED_PASSWORD)
            done += 1

    started = time.monotonic()
    try:
        await asyncio.gather(*(verify_until_deadline() for _ in range(CONNECTIONS)))
    finally:
        hasher.close()
    return done / (time.monotonic() - started)


def _login_script(workdir: Path, emails: Sequence[str]) -> Path:
    script = workdir / "login.lua"
    script.write_text(
        f"local emails = {lua_list(emails)}\n"
        'local headers = {["Content-Type"] = "application/json"}\n'
        "request = function()\n"
        "  local email = emails[math.random(#emails)]\n"
        '  local body = \'{"email":"\' .. email .. \'","password":"' + SEEDED_PASSWORD + "\"}'\n"
        '  return wrk.format("POST", "/api/v1/auth/login", headers, body)\n'
        "end\n"
    )
    return script


def _me_script(workdir: Path, token: str) -> Path:
    script = workdir / "me.lua"
    script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    return script


async def run(
    database_url: str, *, users: int, seeded_url: str | None = None, api_workers: int = 1
) -> Results:
    """`seeded_url`: a database `mercato seed users --count <users>` loaded already (its
    seeding is not timed again); `api_workers`: `serve --workers`."""
    require_tool("wrk")
    require_tool("pgbench")
    workdir = Path(tempfile.mkdtemp(prefix="mercato-bench-identity-"))
    hasher = PasswordHasher(workers=1)
    try:
        plan = SeedPlan(count=users, seed=1, password_hash=await hasher.hash(SEEDED_PASSWORD))
    finally:
        hasher.close()
    seed_s = 0.0
    if seeded_url is not None:
        database_url = seeded_url
    else:
        connection = await asyncpg.connect(libpq_url(database_url))
        try:
            started = time.monotonic()
            await seed_users(connection, plan, progress=lambda _: None)
            seed_s = time.monotonic() - started
            await connection.execute("VACUUM ANALYZE identity_user")
        finally:
            await connection.close()
    _create_admin(database_url, workdir)

    server = Server(
        database_url,
        workdir,
        command=("-m", "mercato", "serve", "--workers", str(api_workers)),
    )
    try:
        server.wait_ready()
        token = await _admin_token(server.base)
        searches = []
        for name, terms in SEARCHES.items():
            slug = re.sub(r"\W+", "-", name)
            mercato = wrk_load(wrk(server.base, _search_script(workdir, slug, terms, token)))
            criteria = [UserCriteria(q=term) for term in terms] or [UserCriteria(role="staff")]
            scripts = []
            for n, item in enumerate(criteria):
                script = workdir / f"{slug}-{n}.sql"
                script.write_text(_search_sql(item))
                scripts.append(script)
            searches.append(SearchResult(name, mercato, pgbench(database_url, scripts, workdir)))
        rss_after_searches = server_rss_mib(server.pid)

        emails = [
            str(row[1])
            for row, _ in generate_users(SeedPlan(count=min(users, 2000), seed=1, password_hash=""))
            if row[5] == "active"
        ]
        me_idle = wrk_load(
            wrk(server.base + "/api/v1/users/me", _me_script(workdir, token), connections=4)
        )
        flood = wrk(server.base, _login_script(workdir, emails))
        me_busy = wrk(server.base + "/api/v1/users/me", _me_script(workdir, token), connections=4)
        logins, me_during = wrk_load(flood), wrk_load(me_busy)
        rss_after_logins = server_rss_mib(server.pid)
    finally:
        server.stop()
    # Alone on the machine, as the ceiling should be.
    argon2 = await _argon2_ceiling(plan.password_hash)
    principal_cache = bool(os.environ.get("REDIS_URL"))
    return Results(
        users=users,
        seed_s=seed_s,
        searches=searches,
        login=LoginResult(
            logins=logins, argon2_per_s=argon2, me_idle=me_idle, me_during_logins=me_during
        ),
        principal_cache=principal_cache,
        api_workers=api_workers,
        rss_after_searches_mib=rss_after_searches,
        rss_after_logins_mib=rss_after_logins,
    )


def report(results: Results) -> str:
    lines = [
        (
            f"Seeded {results.users:,} users in {results.seed_s:.0f} s"
            f" ({results.users / results.seed_s:,.0f}/s, COPY)."
            if results.seed_s
            else f"{results.users:,} users seeded beforehand (--identity-database)."
        )
        + f" API processes: {results.api_workers}. wrk/pgbench: {CONNECTIONS}"
        f" connections, {DURATION_S} s each; session check cache in Redis:"
        f" {'on' if results.principal_cache else 'off (PostgreSQL)'}.",
        "",
        "| admin search | Mercato req/s | p50 / p99 ms | pgbench same SQL tx/s |"
        " p50 / p99 ms | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for search in results.searches:
        lines.append(
            f"| {search.scenario} | {search.mercato.requests_per_s:,.0f} |"
            f" {search.mercato.p50_ms:.1f} / {search.mercato.p99_ms:.1f} |"
            f" {search.pgbench.requests_per_s:,.0f} |"
            f" {search.pgbench.p50_ms:.1f} / {search.pgbench.p99_ms:.1f} |"
            f" {search.ratio:.2f} |"
        )
    login = results.login
    lines += [
        "",
        "| login | per s | p50 / p99 ms |",
        "|---|---:|---:|",
        f"| POST /auth/login (wrk, {CONNECTIONS} connections) |"
        f" {login.logins.requests_per_s:,.1f} |"
        f" {login.logins.p50_ms:.0f} / {login.logins.p99_ms:.0f} |",
        f"| Argon2id verifications alone (same hasher) | {login.argon2_per_s:,.1f} | |",
        f"| ratio logins / ceiling | {login.logins.requests_per_s / login.argon2_per_s:.2f} | |",
        f"| GET /users/me idle (4 connections) | {login.me_idle.requests_per_s:,.0f} |"
        f" {login.me_idle.p50_ms:.1f} / {login.me_idle.p99_ms:.1f} |",
        f"| GET /users/me during the login flood | {login.me_during_logins.requests_per_s:,.0f} |"
        f" {login.me_during_logins.p50_ms:.1f} / {login.me_during_logins.p99_ms:.1f} |",
    ]
    lines.append(
        f"\nServer RSS: {results.rss_after_searches_mib:.0f} MiB after the searches,"
        f" {results.rss_after_logins_mib:.0f} MiB after the logins."
    )
    errors = sum(s.mercato.errors for s in results.searches) + login.me_idle.errors
    if errors or login.logins.errors:
        lines.append(f"\nNon-2xx answers: searches/me {errors}, logins {login.logins.errors}.")
    return "\n".join(lines)
