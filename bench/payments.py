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
import re
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.payment_flows import FlowRun, flow_run, flow_script
from bench.payment_stack import payments_stack
from bench.payment_webhooks import WebhookRun, paid_payments, webhook_round
from bench.support import require_tool, rss_mib
from mercato.payments.schema import HISTORY
from mercato.platform.db import migrations

_PLAIN = re.compile(r"^postgresql\+\w+://")


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
    with payments_stack(database_url, workdir) as stack:
        # Primer: connections, JWKS, JIT-free warm paths on both sides (not reported).
        for target, base in (("service", stack.service.base), ("sandbox", stack.sandbox.base)):
            script = flow_script(workdir, stack, target=target, round_=0)
            flow_run(base, script, connections=connections, seconds=3, processes=stack.processes)
        for round_ in range(1, rounds + 1):
            script = flow_script(workdir, stack, target="service", round_=round_)
            service_runs.append(
                flow_run(
                    stack.service.base,
                    script,
                    connections=connections,
                    seconds=seconds,
                    processes=stack.processes,
                )
            )
            script = flow_script(workdir, stack, target="sandbox", round_=round_)
            sandbox_runs.append(
                flow_run(
                    stack.sandbox.base,
                    script,
                    connections=connections,
                    seconds=seconds,
                    processes=stack.processes,
                )
            )
        rss = rss_mib(stack.service.pid)
        payment_ids = asyncio.run(paid_payments(plain_url, webhook_events))
        for _ in range(rounds):
            webhook_runs.append(
                asyncio.run(
                    webhook_round(stack, plain_url, payment_ids, webhook_events, connections)
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
