"""The OpenAPI page works offline: Swagger UI comes from the installed package, not a CDN."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from chordial.conductor.app import create_app
from chordial.conductor.gateway import create_gateway
from chordial.conductor.session import Session


@pytest.mark.parametrize("which", ["conductor", "gateway"])
async def test_docs_page_and_its_assets_are_served_locally(which: str) -> None:
    app: FastAPI = create_app(Session(), web_dist=None) if which == "conductor" else create_gateway("127.0.0.1:1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assert "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
        script = await http.get("/docs-assets/swagger-ui-bundle.js")
        style = await http.get("/docs-assets/swagger-ui.css")
        schema = await http.get("/openapi.json")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert style.status_code == 200
    assert schema.status_code == 200 and "/api/kv/{key}" in schema.json()["paths"]
