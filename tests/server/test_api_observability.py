"""What an operator sees: metrics with samples from the start, routes by name."""

from __future__ import annotations

from tests.server.api_helpers import Api


async def test_queue_depth_has_samples_while_the_queue_is_empty(api: Api) -> None:
    ready = (await api.client.get("/ready")).json()
    assert ready["checks"]["queue"]["ok"] is True
    scrape = (await api.client.get("/metrics")).text
    assert 'pushgate_queue_depth{queue="fanout"} 0.0' in scrape
    assert 'pushgate_queue_depth{queue="deliver:apns"} 0.0' in scrape


async def test_docs_and_openapi_are_counted_under_their_routes(api: Api) -> None:
    assert (await api.client.get("/openapi.json")).status_code == 200
    assert (await api.client.get("/docs")).status_code == 200
    await api.client.get("/no-such-route")
    scrape = (await api.client.get("/metrics")).text
    assert 'pushgate_http_requests_total{method="GET",route="/openapi.json",status="200"} 1.0' in scrape
    assert 'pushgate_http_requests_total{method="GET",route="/docs",status="200"} 1.0' in scrape
    assert 'route="<unmatched>",status="404"} 1.0' in scrape
