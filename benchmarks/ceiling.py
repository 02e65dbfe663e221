"""The ceiling for a filtered GET on this machine: a bare Starlette app answering every
``GET /v2/Users`` with the same SCIM list of one user (about the size of idsync's answer),
with no database, no authentication, no filter. Run by ``bench_scim.py`` with one uvicorn
worker, beside idsync with one, and driven by the same wrk script: what is left between the
two is what idsync does per request.

    uvicorn ceiling:app --app-dir benchmarks --port 8000
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "019ae9b1-0c3e-7d5a-9f1e-6b0c2d4e8a17",
    "userName": "bench-u0000001@example.com",
    "name": {"givenName": "Bench", "familyName": "User 1"},
    "displayName": "Bench User 1",
    "emails": [{"value": "bench-u0000001@example.com", "type": "work", "primary": True}],
    "active": True,
    "meta": {
        "resourceType": "User",
        "created": "2026-12-04T12:00:00.000000Z",
        "lastModified": "2026-12-04T12:00:00.000000Z",
        "version": 'W/"1"',
        "location": "http://127.0.0.1/v2/Users/019ae9b1-0c3e-7d5a-9f1e-6b0c2d4e8a17",
    },
}
BODY = orjson.dumps(
    {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 1,
        "startIndex": 1,
        "itemsPerPage": 1,
        "Resources": [USER],
    }
)


async def users(request: Request) -> Response:
    return Response(BODY, media_type="application/scim+json")


async def config(request: Request) -> Response:
    return Response(b'{"bulk": {"supported": false}}', media_type="application/scim+json")


app = Starlette(
    routes=[
        Route("/v2/Users", users),
        Route("/v2/ServiceProviderConfig", config),
    ]
)
