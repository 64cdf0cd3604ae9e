"""Prometheus metrics by route template, and pool gauges."""

from __future__ import annotations

import httpx

from mercato.app import create_app
from mercato.platform.config import Settings


async def test_requests_are_counted_by_route_template(client: httpx.AsyncClient) -> None:
    for item_id in (1, 2, 3):
        await client.get(f"/test/items/{item_id}")
    await client.get("/unknown/7")
    text = (await client.get("/metrics")).text
    assert (
        'mercato_http_requests_total{method="GET",route="/test/items/{item_id}",status="200"} 3.0'
        in text
    )
    assert 'route="<unmatched>",status="404"' in text
    assert "/test/items/1" not in text
    assert 'mercato_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text


async def test_pool_gauges_are_exported(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/health/ready")
            text = (await client.get("/metrics")).text
    assert f'mercato_db_pool_size{{pool="primary"}} {float(settings.database.pool_size)}' in text
    assert 'mercato_db_pool_checked_out{pool="primary"}' in text
