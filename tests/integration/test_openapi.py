"""The OpenAPI document the server publishes covers API.md's paths, is a valid OpenAPI 3.0 document that
generators take (issue 22: ASCII title, an operationId naming what each operation does, a schema for every
response body), and renders in /docs. tests/e2e/test_generated_client.py generates a client from it."""
from __future__ import annotations

import re

from openapi_spec_validator import OpenAPIV30SpecValidator

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


def test_the_document_validates_with_openapi_spec_validator(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"] == "3.0.3"
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OpenAPIV30SpecValidator(spec).iter_errors()]
    assert errors == []
    # The validator does check: the defect issue 22 found (a response without description) is reported.
    broken = {**spec, "paths": {**spec["paths"], "/x": {"get": {"responses": {"200": {"content": {}}}}}}}
    assert list(OpenAPIV30SpecValidator(broken).iter_errors())


OPERATION_ID = re.compile(r"(list|get|start|complete|deploy|validate|deliver|cancel|stream|acknowledge|resolve|confirm|"
                          r"retry|correct|diff|migrate|record|claim|open|object|revoke|repair|refer|answer|report|"
                          r"import|export|decide|suspend|resume|propose|notify|sign)_[a-z]+(_[a-z]+)*")


def test_every_operation_is_named_for_what_it_does(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["info"]["title"] == "Lvyue API" and spec["info"]["title"].isascii()
    ids = {(method, path): op.get("operationId") for path, item in spec["paths"].items()
           for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")}
    assert len(ids) >= 42 and None not in ids.values()
    assert len(set(ids.values())) == len(ids), "operationIds are unique"
    assert [i for i in ids.values() if not OPERATION_ID.fullmatch(i)] == []
    assert ids[("get", "/api/v1/tasks")] == "list_tasks"
    assert ids[("post", "/api/v1/tasks/{task_id}/complete")] == "complete_task"
    assert ids[("post", "/api/v1/instances")] == "start_instance"
    assert ids[("get", "/api/v1/contracts/{business_key}")] == "get_contract_ledger"
    assert ids[("post", "/api/v1/instances/{instance_id}/messages/guarantee_issued")] == "confirm_guarantee_issued"


def _resolve(spec: dict, item: dict) -> dict:
    while "$ref" in item:
        section, name = item["$ref"].split("/")[-2:]
        item = spec["components"][section][name]
    return item


def test_every_response_has_a_description_and_its_body_a_schema(client):
    spec = client.get("/openapi.json").get_json()
    untyped = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            for status, response in op["responses"].items():
                response = _resolve(spec, response)
                assert response.get("description"), (method, path, status)
                content = response.get("content")
                if not content:
                    untyped.append((method, path, status))
                    continue
                for media, body in content.items():
                    schema = _resolve(spec, body.get("schema") or {})
                    if schema == {"type": "object"} or not (schema.get("type") or schema.get("oneOf")):
                        untyped.append((method, path, status, media))
    assert untyped == []
    ok = lambda path, method="get": spec["paths"][path][method]["responses"]["200"]["content"]  # noqa: E731
    assert ok("/api/v1/contracts/{business_key}")["application/json"]["schema"] == {"$ref": "#/components/schemas/ContractLedger"}
    assert ok("/api/v1/reports/monthly")["text/csv"]["schema"] == {"type": "string"}
    assert ok("/api/v1/definitions/{key}/versions/{version}/xml")["application/xml"]["schema"] == {"type": "string"}
    assert ok("/api/v1/ocds/releases")["application/json"]["schema"] == {"$ref": "#/components/schemas/OcdsReleasePackage"}
    assert {"$ref": "#/components/schemas/GuaranteeDetail"} in \
        ok("/api/v1/instances/{instance_id}/messages/guarantee_issued", "post")["application/json"]["schema"]["oneOf"]
    complete = spec["paths"]["/api/v1/tasks/{task_id}/complete"]["post"]["responses"]
    assert complete["409"]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_the_ledger_answers_as_its_schema_says(api, app):
    """The ledger's schema is the ledger's shape: a contract's real ledger validates against it (nullable fields
    as OpenAPI 3.0 writes them), a goods contract's and a works contract's paid on measurement."""
    from jsonschema import Draft4Validator
    from tests.e2e.test_post_award import Contract, at, procurement_goods
    from engine.access import directory
    from tests.integration.test_works_payments import APPLICATION_1, _sign_and_file, works_data

    Contract(api, "OAS-1", procurement_goods()).run()
    ledgers = [api.call("GET", "/api/v1/contracts/OAS-1", "admin", at(10, 1))]
    with app.extensions["lvyue"].db.transaction() as s:
        directory.add_organisation(s, "PUB", "市第一中学", public_body=True)
        s.flush()
        _, api.people.tokens["pub"] = directory.add_user(s, "pub", "party", "PUB")
    iid = api.start("OAS-W", works_data(), at(8, 4))["id"]
    _sign_and_file(api, iid)
    api.act(iid, "submit_payment_application", "con2", at(9, 30),
            {"period": "2026-09", "applied_at": "2026-09-30", "value": "1000000.00", "document_sha256": APPLICATION_1})
    ledgers.append(api.call("GET", "/api/v1/contracts/OAS-W", "admin", at(10, 20)))
    assert ledgers[1]["works"]["applications"][0]["deemed"] is True
    spec = api.client.get("/openapi.json").get_json()

    def plain(schema):  # OpenAPI 3.0's nullable and $ref → JSON Schema
        if isinstance(schema, list):
            return [plain(s) for s in schema]
        if not isinstance(schema, dict):
            return schema
        schema = _resolve(spec, schema)
        out = {k: plain(v) for k, v in schema.items() if k not in ("nullable", "format")}
        if schema.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        if schema.get("nullable") and "allOf" in out:
            out = {"anyOf": [{"type": "null"}, *out.pop("allOf")], **out}
        return out

    validator = Draft4Validator(plain(spec["components"]["schemas"]["ContractLedger"]))
    errors = [f"{list(e.path)}: {e.message}" for ledger in ledgers for e in validator.iter_errors(ledger)]
    assert errors == []
    ledger = ledgers[0]
    assert ledger["milestones"] and ledger["payments"] and ledger["parties"]
    assert list(validator.iter_errors({**ledger, "milestones": [{"no": "one"}]}))


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
