"""The HTTP API: SCIM 2.0 at /scim/{org_id}/v2/, health and admin endpoints."""
