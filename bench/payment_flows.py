"""Payment flows under wrk: create → confirm → capture, through the payments service or
straight to the sandbox, and the CPU our processes spend per completed flow."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.payment_stack import Stack
from bench.support import Load, to_ms

AMOUNT = 2_500


@dataclass(frozen=True)
class FlowRun:
    """One wrk run of payment flows, and the CPU time each of our processes spent per
    completed flow (what limits the rate on a machine this small)."""

    flows_per_s: float
    requests: Load
    failed_steps: int
    cpu_ms_per_flow: dict[str, float]


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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flow_run(
    base: str, script: Path, *, connections: int, seconds: int, processes: dict[str, int]
) -> FlowRun:
    cpu_before = {name: cpu_s(pid) for name, pid in processes.items()}
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
    cpu_used = {name: cpu_s(pid) - cpu_before[name] for name, pid in processes.items()}
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


def flow_script(workdir: Path, stack: Stack, *, target: str, round_: int) -> Path:
    token = stack.service_token() if target == "service" else stack.api_key
    run = f"b{round_}{target[:2]}{secrets.token_hex(3)}"
    script = workdir / f"flow-{target}-{round_}.lua"
    script.write_text(_lua(token=token, run=run, target=target))
    return script


# --- provider webhooks in --------------------------------------------------------------
