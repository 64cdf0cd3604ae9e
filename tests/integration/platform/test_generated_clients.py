"""Clients generated from /openapi.json work: `make clients-from` (what `make client` runs)
builds a Python client (openapi-python-client) and a TypeScript one (openapi-typescript
with openapi-fetch); the Python one answers a 200 and a 422 (parsed as a `Problem`), the
TypeScript one type-checks a call whose error is a `Problem`.

The generators come from PyPI and npm (pinned in the Makefile): without npm or uv the test
is skipped with the reason, except in CI, where that is a failure.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import IN_CI

USAGE_TS = """\
import { mercatoClient, type components } from "./index.js";

type Problem = components["schemas"]["Problem"];

export async function productNames(baseUrl: string): Promise<string[]> {
  const { data, error } = await mercatoClient(baseUrl).GET("/api/v1/products", {
    params: { query: { limit: 3, q: "kettle" } },
  });
  if (error) {
    const problem: Problem = error;
    throw new Error(`${problem.status} ${problem.type}: ${problem.errors?.[0]?.pointer}`);
  }
  return data.items.map((product) => product.name);
}
"""


def _tool(name: str, repo_root: Path) -> str:
    found = shutil.which(name) or (
        str(repo_root / ".tools/bin/uv")
        if name == "uv" and (repo_root / ".tools/bin/uv").exists()
        else None
    )
    if found is None:
        reason = f"`{name}` is not installed: the client generators cannot run"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return found


def _generate_and_check(document: dict[str, Any], out: Path, repo_root: Path, uv: str) -> None:
    """`make clients-from`, then a TypeScript call whose error is a Problem type-checks."""
    (out / "openapi.json").write_text(json.dumps(document))
    generated = subprocess.run(
        [
            "make",
            "-s",
            "clients-from",
            f"OPENAPI={out / 'openapi.json'}",
            f"CLIENTS={out}",
            f"UV={uv}",
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    typescript = out / "typescript"
    (typescript / "usage.ts").write_text(USAGE_TS)
    tsc = [str(typescript / "node_modules/.bin/tsc"), "--noEmit", "--strict", "--skipLibCheck"]
    checked = subprocess.run(
        [*tsc, "--target", "es2022", "--module", "nodenext", "usage.ts"],
        cwd=typescript,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.timeout(600)
async def test_generated_clients_call_the_api(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path, repo_root: Path
) -> None:
    uv = _tool("uv", repo_root)
    _tool("npm", repo_root)
    document = (await client.get("/openapi.json")).json()
    await asyncio.to_thread(_generate_and_check, document, tmp_path, repo_root, uv)

    # Python: the generated package against the app, a 200 and a 422.
    sys.path.insert(0, str(tmp_path / "python"))
    try:
        generated = importlib.import_module("mercato_api_client")
        categories = importlib.import_module(
            "mercato_api_client.api.catalog.catalog_list_categories"
        )
        products = importlib.import_module("mercato_api_client.api.catalog.catalog_list_products")
        problem_model = importlib.import_module("mercato_api_client.models.problem").Problem
    finally:
        sys.path.remove(str(tmp_path / "python"))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    api = generated.Client(base_url="http://testserver", httpx_args={"transport": transport})

    listed = await categories.asyncio_detailed(client=api)
    assert listed.status_code == 200
    assert isinstance(listed.parsed, list)

    refused = await products.asyncio_detailed(client=api, limit=0)
    assert refused.status_code == 422
    problem = refused.parsed
    assert isinstance(problem, problem_model)
    assert problem.type_ == "/problems/validation-error"
    assert problem.errors[0].pointer == "/limit"
    assert problem.errors[0].in_ == "query"


def test_the_generators_are_pinned_in_one_place(repo_root: Path) -> None:
    makefile = (repo_root / "Makefile").read_text()
    for pin in ("openapi-python-client==", "openapi-typescript@", "OPENAPI_FETCH_VERSION ?="):
        assert pin in makefile
    assert "/clients/" in (repo_root / ".gitignore").read_text()
