"""The OpenAPI document the server publishes covers API.md's paths and renders in /docs."""
from __future__ import annotations

API_MD_PATHS = [
    ("post", "/api/v1/definitions"), ("post", "/api/v1/definitions/validate"), ("get", "/api/v1/definitions"),
    ("get", "/api/v1/definitions/{key}"), ("get", "/api/v1/definitions/{key}/versions/{version}"),
    ("get", "/api/v1/definitions/{key}/versions/{version}/xml"),
    ("post", "/api/v1/instances"), ("get", "/api/v1/instances"), ("get", "/api/v1/instances/{instance_id}"),
    ("get", "/api/v1/instances/{instance_id}/history"), ("get", "/api/v1/instances/{instance_id}/diagram"),
    ("post", "/api/v1/instances/{instance_id}/messages/{name}"), ("post", "/api/v1/instances/{instance_id}/cancel"),
    ("get", "/api/v1/tasks"), ("get", "/api/v1/tasks/{task_id}"), ("post", "/api/v1/tasks/{task_id}/complete"),
    ("get", "/api/v1/alerts"), ("get", "/api/v1/alerts/{alert_id}"), ("get", "/api/v1/alerts/stream"),
    ("post", "/api/v1/alerts/{alert_id}/acknowledge"), ("post", "/api/v1/alerts/{alert_id}/resolve"),
    ("get", "/api/v1/incidents"), ("post", "/api/v1/incidents/{incident_id}/retry"),
    ("get", "/api/v1/contracts/{business_key}"),
]


def test_openapi_lists_every_public_path(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for method, path in API_MD_PATHS:
        assert method in spec["paths"].get(path, {}), f"{method.upper()} {path} missing from /openapi.json"


def test_docs_page_is_served_without_network(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert b"/vendor/swagger-ui-dist/" in page.data


def test_healthz_needs_no_token(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_unknown_routes_and_methods_are_problem_json(client, people):
    assert client.get("/api/v1/nothing-here").status_code == 401  # strangers learn nothing about routes
    r = client.get("/api/v1/nothing-here", headers=people.auth("operator"))
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    r = client.delete("/api/v1/tasks", headers=people.auth("operator"))
    assert r.status_code == 405 and r.mimetype == "application/problem+json"


def test_malformed_json_is_400_and_oversized_body_is_413(client, people):
    r = client.post("/api/v1/instances", data=b"{not json", headers={**people.auth("operator"),
                                                                      "Content-Type": "application/json"})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    r = client.post("/api/v1/definitions", data=b"<a/>" * (2 * 1024 * 1024),
                    headers={**people.auth("designer"), "Content-Type": "application/xml"})
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
