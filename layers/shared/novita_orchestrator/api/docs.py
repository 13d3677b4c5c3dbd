"""The API's Swagger UI page (``GET /docs``), built by the request that asks for it.

Powertools' ``enable_swagger`` imports its OpenAPI document models (several hundred pydantic models)
when it *registers* the page, at init: about a third of bare boto3's cold start (``make bench``,
docs/BENCHMARKS.md), for a page no other route needs. Request validation does not need them, and
Powertools itself imports them only when a document is generated, so this page does the same: its
Powertools pieces are imported when ``/docs`` is asked for, and the page is what ``enable_swagger``
serves (the OpenAPI document with this stage as its server, and Powertools' bundled Swagger UI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response


def swagger_page(app: APIGatewayRestResolver, base_path: str) -> Response[Any]:
    """The HTML page; ``base_path``: the stage prefix, so "Try it out" calls this API where it answers."""
    # The layer's one deferred import (tests/unit/test_layering.py names it): see the module's docstring.
    from aws_lambda_powertools.event_handler.openapi import models, swagger_ui

    spec = app.get_openapi_json_schema(servers=[models.Server(url=base_path or "/")])
    assets = Path(swagger_ui.__file__).parent
    html = swagger_ui.generate_swagger_html(
        # As enable_swagger does: the document sits inside a <script>, which "</" must not close.
        spec.replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )
    return Response(status_code=200, content_type="text/html", body=html)
