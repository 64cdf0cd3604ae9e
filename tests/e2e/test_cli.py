"""The CLI fails with one clear line and exit code 2 on configuration problems."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from mercato.catalog.cache import CachedRead, Peek, RedisCatalogCache
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_port, mercato_env, run_mercato
from tests.unit.catalog.test_shopify_csv import FIXTURE as SHOPIFY_EXPORT

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"DATABASE_URL": "mysql://root:TopSecret@db/shop"}, "DATABASE_URL: must be a postgresql"),
        ({"DATABASE_URL": "::not a url::"}, "DATABASE_URL: is not a URL"),
        ({"MERCATO_PORT": "99999"}, "MERCATO_PORT"),
        (
            {"MERCATO_ENV": "production", "DATABASE_URL": "postgresql://u@127.0.0.1/db"},
            "MERCATO_SECRET_KEY: still holds the development default",
        ),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL: must be a redis://"),
        ({"SMTP_URL": "smtp://mailer:TopSecret@"}, "SMTP_URL: names no host"),
        ({"MERCATO_SECRET_KEY": ""}, "MERCATO_SECRET_KEY: is empty"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(overrides: dict[str, str], expected: str) -> None:
    result = run_mercato("check", env=mercato_env(**overrides))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert "TopSecret" not in result.stderr


def test_every_bad_variable_is_one_line_and_exit_2() -> None:
    result = run_mercato(
        "check",
        env=mercato_env(
            REDIS_URL="http://cache", SMTP_URL="mail.example.com", IDENTITY_ACCESS_TTL_S="5"
        ),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[2].strip() for line in lines] == [
        "SMTP_URL",
        "REDIS_URL",
        "IDENTITY_ACCESS_TTL_S",
    ], result.stderr
    assert all(line.startswith("mercato: configuration error: ") for line in lines)


def test_unreachable_database_is_one_line_and_exit_2() -> None:
    closed = f"postgresql://app:TopSecret@127.0.0.1:{free_port()}/shop"
    result = run_mercato("check", env=mercato_env(DATABASE_URL=closed))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mercato: database unreachable at postgresql+asyncpg://app:***@")
    assert "TopSecret" not in result.stderr


def test_missing_database_on_a_live_server_is_reported(postgres_server: str) -> None:
    missing = postgres_server.rsplit("/", 1)[0] + "/no_such_database_here"
    result = run_mercato("check", env=mercato_env(DATABASE_URL=missing))
    assert result.returncode == 2
    assert "no_such_database_here" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_reports_the_schema_state(database_url: str) -> None:
    result = run_mercato("check", env=mercato_env(DATABASE_URL=database_url))
    assert result.returncode == 0, result.stderr
    assert "schema up to date" in result.stdout
    assert "warning" not in result.stderr


def test_check_warns_about_development_on_a_public_bind(database_url: str) -> None:
    env = mercato_env(DATABASE_URL=database_url, MERCATO_ENV="development", MERCATO_HOST="0.0.0.0")
    result = run_mercato("check", env=env)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("mercato: warning")]
    assert len(warnings) == 1, result.stderr
    assert "binds 0.0.0.0" in warnings[0]


def test_migrate_down_and_up_on_the_command_line(postgres_server: str) -> None:
    url = asyncio.run(create_database(postgres_server, prefix="mercato_cli"))
    try:
        env = mercato_env(DATABASE_URL=url)
        assert run_mercato("migrate", "up", env=env).returncode == 0
        assert "schema up to date" in run_mercato("check", env=env).stdout
        assert run_mercato("migrate", "down", "base", env=env).returncode == 0
        assert "schema at base (empty)" in run_mercato("check", env=env).stdout
        unknown = run_mercato("migrate", "up", "nonexistent", env=env)
        assert unknown.returncode == 2
        assert unknown.stderr.startswith("mercato: migration: ")
        assert "Traceback" not in unknown.stderr
    finally:
        asyncio.run(drop_database(postgres_server, url))


def test_createadmin_reads_the_password_from_stdin(scratch_database: str) -> None:
    env = mercato_env(DATABASE_URL=scratch_database)
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    created = subprocess.run(
        [sys.executable, "-m", "mercato", "createadmin", "--email", email.upper()],
        input="a long and private admin passphrase\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    assert f"administrator {email} ready" in created.stdout
    assert "passphrase" not in created.stdout + created.stderr
    weak = subprocess.run(
        [sys.executable, "-m", "mercato", "createadmin", "--email", "x" + email],
        input="password\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert weak.returncode == 2
    assert weak.stderr.startswith("mercato: password: ")


async def _scalar(url: str, statement: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


def test_seed_catalog_then_import_and_export_on_the_command_line(
    scratch_database: str, tmp_path: Path
) -> None:
    env = mercato_env(DATABASE_URL=scratch_database, REDIS_URL=None)
    seeded = run_mercato("seed", "catalog", "--products", "60", "--categories", "12", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "12 categories, 60 products and " in seeded.stdout
    variants = "SELECT count(*) FROM catalog_variant"
    seeded_variants = asyncio.run(_scalar(scratch_database, variants))
    assert isinstance(seeded_variants, int)
    assert 60 < seeded_variants <= 12 * 60
    assert f"and {seeded_variants:,} variants loaded" in seeded.stdout
    analysed = (
        "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'catalog_variant'"
    )
    assert asyncio.run(_scalar(scratch_database, analysed)) is True  # VACUUM (ANALYZE) ran
    again = run_mercato("seed", "catalog", "--products", "60", "--categories", "12", env=env)
    assert again.returncode == 2  # one line naming the way out, not a unique violation
    assert again.stderr.startswith("mercato: the catalog is not empty (72 categories and")
    assert "Traceback" not in again.stderr

    refused = run_mercato("catalog", "import", str(SHOPIFY_EXPORT), env=env)
    assert refused.returncode == 1
    assert "--currency" in refused.stderr
    imported = run_mercato("catalog", "import", str(SHOPIFY_EXPORT), "--currency", "EUR", env=env)
    assert imported.returncode == 0, imported.stderr
    assert "4 products (10 variants) imported: 4 created, 0 updated" in imported.stdout
    assert "ignored columns: Option1 Linked To" in imported.stdout
    again = run_mercato("catalog", "import", str(SHOPIFY_EXPORT), "--currency", "EUR", env=env)
    assert again.returncode == 1
    assert "line 2, column 'Handle': a product has this handle (use --mode upsert)" in again.stderr
    assert "nothing imported" in again.stderr

    ours = tmp_path / "catalog.csv"
    exported = run_mercato("catalog", "export", str(ours), env=env)
    assert exported.returncode == 0, exported.stderr
    assert f"64 products ({seeded_variants + 10:,} lines) exported" in exported.stdout
    theirs = tmp_path / "shopify.csv"
    exported = run_mercato(
        "catalog", "export", str(theirs), "--format", "shopify", "--currency", "EUR", env=env
    )
    assert exported.returncode == 0, exported.stderr
    upserted = run_mercato("catalog", "import", str(ours), "--mode", "upsert", env=env, timeout=300)
    assert upserted.returncode == 0, upserted.stderr
    assert "0 created, 64 updated" in upserted.stdout
    assert asyncio.run(_scalar(scratch_database, variants)) == seeded_variants + 10


def test_keys_rotate_on_the_command_line(scratch_database: str, tmp_path: Path) -> None:
    env = mercato_env(DATABASE_URL=scratch_database, MERCATO_DATA_DIR=str(tmp_path / "data"))
    first = run_mercato("keys", "rotate", env=env)
    assert first.returncode == 0, first.stderr
    assert "signing keys rotated" in first.stdout
    assert "fields keys rotated" in first.stdout
    signing = json.loads((tmp_path / "data" / "keys" / "jwt-keys.json").read_text())
    fields = json.loads((tmp_path / "data" / "keys" / "field-keys.json").read_text())
    assert len(fields["keys"]) == 2  # the one made on first use, and the new current
    assert signing["previous"]  # the retired key is still published
    audited = "SELECT count(*) FROM identity_audit_log WHERE action = 'key_rotation'"
    assert asyncio.run(_scalar(scratch_database, audited)) == 1
    queued = "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'identity:reencrypt_fields'"
    assert asyncio.run(_scalar(scratch_database, queued)) == 1
    assert run_mercato("keys", "rotate", "--no-signing", "--no-fields", env=env).returncode == 2


def test_payments_keys_rotate_on_the_command_line(scratch_database: str, tmp_path: Path) -> None:
    env = mercato_env(DATABASE_URL=scratch_database, MERCATO_DATA_DIR=str(tmp_path / "data"))
    assert run_mercato("payments", "migrate", "up", env=env).returncode == 0
    rotated = run_mercato("payments", "keys", "rotate", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "payments field keys rotated" in rotated.stdout
    ring = json.loads((tmp_path / "data" / "keys" / "payments-field-keys.json").read_text())
    assert len(ring["keys"]) == 2  # the one made on first use, and the new current
    assert ring["current"] in rotated.stdout
    queued = (
        "SELECT count(*) FROM payments.procrastinate_jobs"
        " WHERE task_name = 'payments:reencrypt_fields'"
    )
    assert asyncio.run(_scalar(scratch_database, queued)) == 1


def test_retire_cache_on_the_command_line(redis_url: str) -> None:
    line = f"raw:/cli-{uuid.uuid4().hex}?"

    async def cached() -> bool:
        redis = Redis.from_url(redis_url)
        try:
            return isinstance(await RedisCatalogCache(redis).peek(line), CachedRead)
        finally:
            await redis.aclose()

    async def cache_one() -> None:
        redis = Redis.from_url(redis_url)
        cache = RedisCatalogCache(redis)
        read = CachedRead(body=b"[]", etag='"cli"')

        async def compute() -> CachedRead:
            return read

        try:
            peek = await cache.peek(line)
            assert isinstance(peek, Peek)
            await cache.fetch("cli", compute, alias=line, peek=peek)
        finally:
            await redis.aclose()

    asyncio.run(cache_one())
    assert asyncio.run(cached())
    retired = run_mercato("catalog", "retire-cache", env=mercato_env(REDIS_URL=redis_url))
    assert retired.returncode == 0, retired.stderr
    assert "catalog cache retired" in retired.stdout
    assert not asyncio.run(cached())  # the alias went with the entries


def test_import_prints_its_template_and_names_the_expected_columns(
    scratch_database: str, tmp_path: Path
) -> None:
    env = mercato_env(DATABASE_URL=scratch_database)
    template = run_mercato("catalog", "import", "--template", env=env)
    assert template.returncode == 0, template.stderr
    header = template.stdout.strip()
    assert header.startswith("handle,name,")
    assert "price_eur" in header
    # The template is a valid (empty) file; a wrong column names what is expected.
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(header.replace("handle", "slug") + "\n", encoding="utf-8")
    refused = run_mercato("catalog", "import", str(wrong), env=env)
    assert refused.returncode == 1
    assert "unknown columns: slug; expected: handle, name," in refused.stderr
    assert run_mercato("catalog", "import", env=env).returncode == 2
