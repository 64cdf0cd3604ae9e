"""The payments service under load, against real processes on 127.0.0.1, with same-run
baselines.

1. Payment flows: create + confirm (`pm_card_visa`) + capture of a manual-capture intent,
   driven by wrk (one connection per thread, each thread walking the three steps with the
   id the previous answer gave), through `mercato payments serve` (and its worker) paying
   through `mercato sandbox serve`; the baseline is the same three calls straight to the
   sandbox (what the service itself sends it). Rounds are interleaved A B A B.
2. Provider webhooks in: N signed `payment_intent.succeeded` events (the sandbox's format
   and signature, about payments made in step 1) POSTed to `/webhooks/sandbox` by a bounded
   asyncio sender; measured until every one is stored (ingest) and until the worker has
   applied every one (processing: each job reads the payment back from the sandbox and
   applies it under the intent's row lock). The baseline is a bare inbox insert: the same
   N rows INSERTed (`ON CONFLICT DO NOTHING`, one autocommit statement each) by the same
   number of concurrent asyncpg connections.

The sandbox runs without webhooks of its own (no SANDBOX_WEBHOOK_URL), so both sides of
the flow ratio see the same sandbox work, and the webhook scenario is the only source of
provider webhooks. Requires `wrk` (Debian: `apt-get install wrk`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench.support import Load, Server, percentile, require_tool, rss_mib, to_ms
from mercato.payments.schema import HISTORY
from mercato.platform.db import migrations
from mercato.platform.security.jwt import AccessTokens, KeyRing
from mercato.sandbox.signing import SIGNATURE_HEADER, signature_header

ISSUER = "mercato"
AMOUNT = 2_500
WEBHOOK_TIMEOUT_S = 180.0  # processing of one webhook round, at most
_PLAIN = re.compile(r"^postgresql\+\w+://")


@dataclass(frozen=True)
class FlowRun:
    """One wrk run of payment flows, and the CPU time each of our processes spent per
    completed flow (what limits the rate on a machine this small)."""

    flows_per_s: float
    requests: Load
    failed_steps: int
    cpu_ms_per_flow: dict[str, float]


@dataclass(frozen=True)
class WebhookRun:
    events: int
    ingest_per_s: float
    ingest_p50_ms: float
    ingest_p99_ms: float
    processed_per_s: float
    bare_insert_per_s: float
    cpu_ms_per_event: dict[str, float]


@dataclass(frozen=True)
class PaymentsResults:
    connections: int
    seconds: int
    service: list[FlowRun]
    sandbox: list[FlowRun]
    webhooks: list[WebhookRun]
    service_rss_mib: float

    def flow_ratios(self) -> list[float]:
        return [
            a.flows_per_s / b.flows_per_s
            for a, b in zip(self.service, self.sandbox, strict=True)
            if b.flows_per_s
        ]


# --- processes ----------------------------------------------------------------------


@contextmanager
def _jwks_server(ring: KeyRing) -> Iterator[str]:
    """The API's public keys, as the payments service fetches them (a stdlib server in a
    thread: the bench's 'API')."""
    body = json.dumps(ring.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Stack:
    sandbox: Server
    service: Server
    worker: Server
    api_key: str
    webhook_secret: str
    tokens: AccessTokens

    @property
    def processes(self) -> dict[str, int]:
        return {
            "payments API": self.service.pid,
            "payments worker": self.worker.pid,
            "sandbox": self.sandbox.pid,
        }

    def service_token(self) -> str:
        return self.tokens.issue_service_token(
            service="bench",
            audience="payments",
            scopes=("payments:write", "payments:read"),
            ttl=dt.timedelta(minutes=10),
        )


@contextmanager
def _stack(database_url: str, workdir: Path) -> Iterator[Stack]:
    api_key = "sk_sandbox_" + secrets.token_urlsafe(24)
    webhook_secret = "whsec_" + secrets.token_urlsafe(32)
    ring = KeyRing.load_or_create(workdir / "jwt-keys.json")
    tokens = AccessTokens(ring, issuer=ISSUER, audience="mercato-api", ttl=dt.timedelta(minutes=5))
    # Production log level (INFO, JSON lines to /dev/null); no access log (the method).
    common = {"MERCATO_ENV": "development", "LOG_JSON": "true"}
    with _jwks_server(ring) as jwks_url:
        sandbox = Server(
            database_url,
            workdir,
            command=("-m", "mercato", "sandbox", "serve", "--port", "{port}"),
            extra_env={
                **common,
                "SANDBOX_DATABASE_URL": database_url,
                "SANDBOX_API_KEYS": api_key,
                "SANDBOX_WEBHOOK_SECRETS": webhook_secret,
                "SANDBOX_CREDENTIALS_FILE": str(workdir / "sandbox-credentials.json"),
            },
        )
        service_env = {
            **common,
            "PAYMENTS_DATABASE_URL": database_url,
            "PAYMENTS_SANDBOX_URL": sandbox.base,
            "PAYMENTS_SANDBOX_API_KEY": api_key,
            "PAYMENTS_SANDBOX_WEBHOOK_SECRETS": webhook_secret,
            "PAYMENTS_JWKS_URL": jwks_url,
            "PAYMENTS_JWT_ISSUER": ISSUER,
        }
        service = Server(
            database_url,
            workdir,
            command=("-m", "mercato", "payments", "serve", "--port", "{port}"),
            extra_env=service_env,
        )
        worker = Server(
            database_url,
            workdir,
            command=("-m", "mercato", "payments", "worker"),
            extra_env=service_env,
        )
        try:
            sandbox.wait_ready()
            service.wait_ready()
            yield Stack(
                sandbox=sandbox,
                service=service,
                worker=worker,
                api_key=api_key,
                webhook_secret=webhook_secret,
                tokens=tokens,
            )
        finally:
            for process in (worker, service, sandbox):
                process.stop()


# --- payment flows (wrk) --------------------------------------------------------------

# Each wrk thread has one connection and walks create → confirm → capture with the id the
# create answered; a failed step starts a new flow. Keys and references are unique per run,
# thread and flow. `done` prints the completed flows for the report.
_FLOW_LUA = """
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local step, id, n, flows, failed, prefix = 1, nil, 0, 0, 0, nil
local auth = "Bearer %(token)s"
function init(args)
  prefix = "%(run)s-" .. wrk.thread:get("tid")
end

local function post(path, key, body)
  return wrk.format("POST", path, {
    ["Authorization"] = auth, ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key}, body)
end

function request()
  local ref = prefix .. "-" .. n
  if step == 1 then
    n = n + 1
    ref = prefix .. "-" .. n
    return post("%(create)s", ref .. "-c", string.format(%(create_body)s, ref))
  elseif step == 2 then
    return post(string.format("%(confirm)s", id), ref .. "-f", %(confirm_body)s)
  end
  return post(string.format("%(capture)s", id), ref .. "-p", %(capture_body)s)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    failed = failed + 1
    step = 1
    return
  end
  if step == 1 then
    id = string.match(body, '"id"%%s*:%%s*"([^"]+)"')
    step = 2
  elseif step == 2 then
    step = 3
  else
    flows = flows + 1
    step = 1
  end
  wrk.thread:set("flows", flows)
  wrk.thread:set("failed", failed)
end

function done(summary, latency, requests)
  local total_flows, total_failed = 0, 0
  for _, thread in ipairs(threads) do
    total_flows = total_flows + (thread:get("flows") or 0)
    total_failed = total_failed + (thread:get("failed") or 0)
  end
  io.write(string.format("FLOWS %%d FAILED %%d SECONDS %%f\\n",
    total_flows, total_failed, summary.duration / 1e6))
end
"""


def _lua(*, token: str, run: str, target: str) -> str:
    """The flow script for the service (`target="service"`) or the sandbox."""
    if target == "service":
        paths = {
            "create": "/api/v1/payment_intents",
            "confirm": "/api/v1/payment_intents/%s/confirm",
            "capture": "/api/v1/payment_intents/%s/capture",
        }
        create = (
            f'{{"amount":{AMOUNT},"currency":"EUR","order_reference":"%s",'
            '"capture_method":"manual"}'
        )
        capture = "{}"
    else:
        paths = {
            "create": "/v1/payment_intents",
            "confirm": "/v1/payment_intents/%s/confirm",
            "capture": "/v1/payment_intents/%s/capture",
        }
        create = (
            f'{{"amount":{AMOUNT},"currency":"EUR","reference":"%s","capture_method":"manual"}}'
        )
        capture = f'{{"amount_to_capture":{AMOUNT}}}'
    return _FLOW_LUA % {
        "token": token,
        "run": run,
        **paths,
        # JSON strings are valid Lua string literals for these bodies.
        "create_body": json.dumps(create),
        "confirm_body": json.dumps('{"payment_method":"pm_card_visa"}'),
        "capture_body": json.dumps(capture),
    }


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _flow_run(
    base: str, script: Path, *, connections: int, seconds: int, processes: dict[str, int]
) -> FlowRun:
    cpu_before = {name: _cpu_s(pid) for name, pid in processes.items()}
    output = subprocess.run(
        [
            "wrk",
            f"-t{connections}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 90,
        check=True,
    ).stdout
    cpu_used = {name: _cpu_s(pid) - cpu_before[name] for name, pid in processes.items()}
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, flags=re.MULTILINE))
    totals = re.search(r"FLOWS (\d+) FAILED (\d+) SECONDS ([\d.]+)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if totals is None or rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    flows, failed, elapsed = int(totals[1]), int(totals[2]), float(totals[3])
    return FlowRun(
        flows_per_s=flows / elapsed,
        requests=Load(
            requests_per_s=float(rate[1]),
            p50_ms=to_ms(latency["50"]),
            p99_ms=to_ms(latency["99"]),
            errors=failed,
        ),
        failed_steps=failed,
        cpu_ms_per_flow={name: used * 1000 / max(flows, 1) for name, used in cpu_used.items()},
    )


def _flow_script(workdir: Path, stack: Stack, *, target: str, round_: int) -> Path:
    token = stack.service_token() if target == "service" else stack.api_key
    run = f"b{round_}{target[:2]}{secrets.token_hex(3)}"
    script = workdir / f"flow-{target}-{round_}.lua"
    script.write_text(_lua(token=token, run=run, target=target))
    return script


# --- provider webhooks in --------------------------------------------------------------


async def _paid_payments(database_url: str, limit: int) -> list[str]:
    """Provider ids of payments the flows made through the service."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT provider_payment_id FROM payments.payments_intent"
            " WHERE provider_payment_id IS NOT NULL AND status = 'succeeded'"
            " ORDER BY created_at DESC LIMIT $1",
            limit,
        )
        return [row[0] for row in rows]
    finally:
        await connection.close()


async def _signed_events(
    stack: Stack, payment_ids: Sequence[str], count: int, run: str
) -> list[tuple[bytes, str]]:
    """`count` distinct `payment_intent.succeeded` events (the sandbox's own format, with
    the payment object it holds), signed as the sandbox signs them."""
    objects: list[dict[str, Any]] = []
    async with httpx.AsyncClient(
        base_url=stack.sandbox.base, headers={"Authorization": f"Bearer {stack.api_key}"}
    ) as sandbox:
        for payment_id in payment_ids[: min(len(payment_ids), count)]:
            answer = await sandbox.get(f"/v1/payment_intents/{payment_id}")
            answer.raise_for_status()
            objects.append(answer.json())
    if not objects:
        raise RuntimeError("no payment was made through the service to send webhooks about")
    now = int(time.time())
    events = []
    for n in range(count):
        body = orjson.dumps(
            {
                "id": f"evt_{run}_{n}",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": now,
                "data": {"object": objects[n % len(objects)]},
            }
        )
        events.append((body, signature_header(body, secrets=[stack.webhook_secret], timestamp=now)))
    return events


async def _post_all(
    base: str, events: Sequence[tuple[bytes, str]], connections: int
) -> tuple[float, list[float]]:
    """POST every event (`connections` at a time); events/s and each answer's latency."""
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def sender() -> None:
            while not queue.empty():
                body, signature = queue.get_nowait()
                started = time.perf_counter()
                answer = await client.post(
                    "/webhooks/sandbox",
                    content=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise RuntimeError(f"webhook refused: {answer.status_code} {answer.text}")

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(connections)))
        return len(events) / (time.perf_counter() - started), sorted(latencies)


async def _processed(connection: asyncpg.Connection, run: str) -> int:
    return int(
        await connection.fetchval(
            "SELECT count(*) FROM payments.payments_provider_event"
            " WHERE event_id LIKE $1 AND processed_at IS NOT NULL",
            f"evt_{run}_%",
        )
    )


async def _bare_inserts(
    database_url: str, events: Sequence[tuple[bytes, str]], connections: int
) -> float:
    """The floor under any inbox: the same rows, INSERTed one autocommit statement each by
    `connections` concurrent connections, with the same unique key to check."""
    pool = await asyncpg.create_pool(database_url, min_size=connections, max_size=connections)
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_webhook_inbox (provider text NOT NULL,"
            " event_id text NOT NULL, payload jsonb NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (provider, event_id))"
        )
        await pool.execute("TRUNCATE bench_webhook_inbox")
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body, _ in events:
            queue.put_nowait(body)

        async def inserter() -> None:
            async with pool.acquire() as connection:
                while not queue.empty():
                    body = queue.get_nowait()
                    await connection.execute(
                        "INSERT INTO bench_webhook_inbox (provider, event_id, payload)"
                        " VALUES ('sandbox', $1, $2::jsonb) ON CONFLICT DO NOTHING",
                        orjson.loads(body)["id"],
                        body.decode(),
                    )

        started = time.perf_counter()
        await asyncio.gather(*(inserter() for _ in range(connections)))
        return len(events) / (time.perf_counter() - started)
    finally:
        await pool.close()


async def _webhook_round(
    stack: Stack, database_url: str, payment_ids: Sequence[str], count: int, connections: int
) -> WebhookRun:
    run = f"bench{secrets.token_hex(4)}"
    events = await _signed_events(stack, payment_ids, count, run)
    connection = await asyncpg.connect(database_url)
    cpu_before = {name: _cpu_s(pid) for name, pid in stack.processes.items()}
    try:
        started = time.perf_counter()
        ingest, latencies = await _post_all(stack.service.base, events, connections)
        deadline = started + WEBHOOK_TIMEOUT_S
        while await _processed(connection, run) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"webhooks not processed within {WEBHOOK_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)
        processed = count / (time.perf_counter() - started)
    finally:
        await connection.close()
    cpu_used = {name: _cpu_s(pid) - cpu_before[name] for name, pid in stack.processes.items()}
    bare = await _bare_inserts(database_url, events, connections)
    return WebhookRun(
        events=count,
        ingest_per_s=ingest,
        ingest_p50_ms=percentile(latencies, 0.50),
        ingest_p99_ms=percentile(latencies, 0.99),
        processed_per_s=processed,
        bare_insert_per_s=bare,
        cpu_ms_per_event={name: used * 1000 / count for name, used in cpu_used.items()},
    )


# --- the suite ------------------------------------------------------------------------


def run(
    database_url: str,
    *,
    seconds: int,
    connections: int,
    rounds: int,
    webhook_events: int,
) -> PaymentsResults:
    require_tool("wrk")
    plain_url = _PLAIN.sub("postgresql://", database_url)
    migrations.upgrade(database_url, history=HISTORY)
    workdir = Path(tempfile.mkdtemp(prefix="mercato-bench-payments-"))
    service_runs: list[FlowRun] = []
    sandbox_runs: list[FlowRun] = []
    webhook_runs: list[WebhookRun] = []
    with _stack(database_url, workdir) as stack:
        # Primer: connections, JWKS, JIT-free warm paths on both sides (not reported).
        for target, base in (("service", stack.service.base), ("sandbox", stack.sandbox.base)):
            script = _flow_script(workdir, stack, target=target, round_=0)
            _flow_run(base, script, connections=connections, seconds=3, processes=stack.processes)
        for round_ in range(1, rounds + 1):
            script = _flow_script(workdir, stack, target="service", round_=round_)
            service_runs.append(
                _flow_run(
                    stack.service.base,
                    script,
                    connections=connections,
                    seconds=seconds,
                    processes=stack.processes,
                )
            )
            script = _flow_script(workdir, stack, target="sandbox", round_=round_)
            sandbox_runs.append(
                _flow_run(
                    stack.sandbox.base,
                    script,
                    connections=connections,
                    seconds=seconds,
                    processes=stack.processes,
                )
            )
        rss = rss_mib(stack.service.pid)
        payment_ids = asyncio.run(_paid_payments(plain_url, webhook_events))
        for _ in range(rounds):
            webhook_runs.append(
                asyncio.run(
                    _webhook_round(stack, plain_url, payment_ids, webhook_events, connections)
                )
            )
    return PaymentsResults(
        connections=connections,
        seconds=seconds,
        service=service_runs,
        sandbox=sandbox_runs,
        webhooks=webhook_runs,
        service_rss_mib=rss,
    )


def _spread(values: Sequence[float], digits: int = 2) -> str:
    return (
        f"{statistics.median(values):.{digits}f}"
        f" ({min(values):.{digits}f} to {max(values):.{digits}f})"
    )


def report(results: PaymentsResults) -> str:
    service, sandbox = results.service, results.sandbox

    def med(runs: Sequence[FlowRun], value: str) -> float:
        return statistics.median(
            getattr(run.requests, value) if value != "flows_per_s" else run.flows_per_s
            for run in runs
        )

    webhooks = results.webhooks
    lines = [
        f"Payment flows (create + confirm + capture), wrk {results.connections} connections,"
        f" {results.seconds} s, {len(service)} interleaved rounds (medians; ranges in"
        " brackets):",
        "",
        "| path | flows/s | requests/s | request p50 / p99 ms | failed steps |",
        "|---|---:|---:|---:|---:|",
        f"| through the payments service | {med(service, 'flows_per_s'):,.1f} |"
        f" {med(service, 'requests_per_s'):,.1f} |"
        f" {med(service, 'p50_ms'):,.1f} / {med(service, 'p99_ms'):,.1f} |"
        f" {sum(run.failed_steps for run in service)} |",
        f"| straight to the sandbox (ceiling) | {med(sandbox, 'flows_per_s'):,.1f} |"
        f" {med(sandbox, 'requests_per_s'):,.1f} |"
        f" {med(sandbox, 'p50_ms'):,.1f} / {med(sandbox, 'p99_ms'):,.1f} |"
        f" {sum(run.failed_steps for run in sandbox)} |",
        "",
        f"Service ÷ sandbox, flows/s: {_spread(results.flow_ratios())};"
        f" payments API RSS after the flows: {results.service_rss_mib:.0f} MiB.",
        "",
        "CPU time per completed flow (medians, ms; PostgreSQL not counted):",
        "",
        "| path | " + " | ".join(service[0].cpu_ms_per_flow) + " |",
        "|---|" + "---:|" * len(service[0].cpu_ms_per_flow),
        *(
            f"| {label} | "
            + " | ".join(
                f"{statistics.median(run.cpu_ms_per_flow[name] for run in runs):.1f}"
                for name in runs[0].cpu_ms_per_flow
            )
            + " |"
            for label, runs in (
                ("through the service", service),
                ("straight to the sandbox", sandbox),
            )
        ),
        "",
        f"Provider webhooks in, {webhooks[0].events:,} events per round,"
        f" {results.connections} concurrent senders, {len(webhooks)} rounds (medians):",
        "",
        "| measure | events/s | ÷ bare insert |",
        "|---|---:|---:|",
    ]
    bare = [run.bare_insert_per_s for run in webhooks]
    ingest = [run.ingest_per_s for run in webhooks]
    processed = [run.processed_per_s for run in webhooks]
    lines += [
        f"| POST /webhooks/sandbox answered (verified, stored, job deferred) |"
        f" {statistics.median(ingest):,.0f} |"
        f" {_spread([a / b for a, b in zip(ingest, bare, strict=True)], 3)} |",
        f"| … and applied by the worker (read back from the sandbox, row lock) |"
        f" {statistics.median(processed):,.0f} |"
        f" {_spread([a / b for a, b in zip(processed, bare, strict=True)], 3)} |",
        f"| bare inbox INSERT (asyncpg, same concurrency) | {statistics.median(bare):,.0f} | 1 |",
        "",
        "Webhook answer p50 / p99 ms:"
        f" {statistics.median(run.ingest_p50_ms for run in webhooks):.1f} /"
        f" {statistics.median(run.ingest_p99_ms for run in webhooks):.1f}; CPU ms per event: "
        + ", ".join(
            f"{name} {statistics.median(run.cpu_ms_per_event[name] for run in webhooks):.1f}"
            for name in webhooks[0].cpu_ms_per_event
        )
        + ".",
    ]
    return "\n".join(lines)
