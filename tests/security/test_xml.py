"""Untrusted XML (ARCHITECTURE.md §7): DOCTYPE, entities, XInclude, foreign roots, malformed, deeply
nested, oversized, wrongly encoded and empty bodies are refused with a clear problem+json `detail`,
quickly, without reading local files or the network, and nothing is stored."""
from __future__ import annotations

import io
import time

import pytest

from engine.runtime import diagrams
from tests.conftest import fixture_bytes
from tests.security.conftest import XML, assert_problem

# One database: a hostile document is refused while it is parsed, before any SQL.
pytestmark = pytest.mark.parametrize("shared_db_url", ["sqlite"], indirect=True)

BASE = fixture_bytes("approval.bpmn").decode("utf-8")
BODY = BASE.split("\n", 1)[1]  # the document without its XML declaration
START = '<bpmn:startEvent id="start">'


def _with_doc(text: str) -> str:
    """The fixture with `text` as the start event's documentation."""
    return BASE.replace(START, f"{START}<bpmn:documentation>{text}</bpmn:documentation>")


def _doctype(subset: str, text: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE bpmn:definitions [{subset}]>\n' + \
        BODY.replace(START, f"{START}<bpmn:documentation>{text}</bpmn:documentation>")


def _post(shared, data: bytes, content_type: str = "application/xml"):
    return shared.client.post("/api/v1/definitions", data=data,
                              headers={**shared.people.auth("designer"), "Content-Type": content_type})


def _nothing_stored(shared) -> None:
    r = shared.client.get("/api/v1/definitions", headers=shared.people.auth("admin"))
    assert r.status_code == 200 and r.get_json()["items"] == []


def _refused(shared, data: bytes, *needles: str, status: int = 422) -> dict:
    started = time.monotonic()
    r = _post(shared, data)
    assert time.monotonic() - started < 5, "the parser must not wait on the network or expand entities"
    body = assert_problem(r, status)
    for needle in needles:
        assert needle.lower() in body["detail"].lower(), body["detail"]
    _nothing_stored(shared)
    return body


# ---------------------------------------------------------------------------------------- DTDs and entities
def test_doctype_with_an_internal_entity_is_refused(shared):
    _refused(shared, _doctype('<!ENTITY company "ACME">', "&company;").encode(), "DOCTYPE")


def test_doctype_alone_is_refused(shared):
    data = f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE bpmn:definitions>\n{BODY}'.encode()
    _refused(shared, data, "DOCTYPE")


def test_external_entity_on_etc_passwd_is_refused_and_not_read(shared):
    body = _refused(shared, _doctype('<!ENTITY xxe SYSTEM "file:///etc/passwd">', "&xxe;").encode(), "DOCTYPE")
    assert "root:" not in str(body)


def test_external_entity_in_an_attribute_is_refused_and_the_file_not_read(shared, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    data = _doctype(f'<!ENTITY xxe SYSTEM "file://{secret}">', "doc").replace(
        'name="Variation approval"', 'name="&xxe;"').encode()
    body = _refused(shared, data)
    assert "TOP-SECRET-CONTENT" not in str(body)


def test_external_entity_over_http_is_refused_without_a_connection(shared):
    _refused(shared, _doctype('<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">', "&xxe;").encode(), "DOCTYPE")


def test_external_parameter_entity_dtd_is_refused_without_a_connection(shared):
    _refused(shared, _doctype('<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;', "doc").encode())


def test_billion_laughs_is_refused_quickly(shared):
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    _refused(shared, _doctype(entities, "&lol9;").encode())


def test_quadratic_blowup_entity_is_refused(shared):
    _refused(shared, _doctype(f'<!ENTITY big "{"x" * 50_000}">', "&big;" * 200).encode())


# ---------------------------------------------------------------------------------------- structure
def test_xinclude_is_refused(shared):
    data = BASE.replace("xmlns:lvyue=", 'xmlns:xi="http://www.w3.org/2001/XInclude" xmlns:lvyue=')
    data = data.replace(START, f'{START}<bpmn:documentation><xi:include href="file:///etc/passwd" parse="text"/>'
                               "</bpmn:documentation>")
    body = _refused(shared, data.encode(), "XInclude")
    assert "root:" not in str(body)


@pytest.mark.parametrize("document, root", [
    ('<?xml version="1.0"?>\n<html><body>hello</body></html>', "html"),
    ('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "svg"),
    ('<?xml version="1.0"?>\n<bpmn:process xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="p"/>', "process"),
    ('<?xml version="1.0"?>\n<definitions xmlns="http://example.org/not-bpmn"/>', "definitions"),
], ids=["html", "svg", "bare-process", "foreign-namespace-definitions"])
def test_a_root_other_than_bpmn_definitions_is_refused(shared, document, root):
    _refused(shared, document.encode(), "bpmn:definitions", root)


def test_malformed_xml_names_the_line(shared):
    lines = BASE.split("\n")
    line_no = next(i for i, line in enumerate(lines, start=1) if '<bpmn:endEvent id="end_ok">' in line)
    lines[line_no - 1] = lines[line_no - 1].replace("</bpmn:endEvent>", "")  # an unclosed tag
    body = _refused(shared, "\n".join(lines).encode(), "malformed")
    assert f"line {line_no}" in body["detail"], body["detail"]
    assert "endEvent" in body["detail"]


def test_truncated_xml_is_refused_with_a_line(shared):
    body = _refused(shared, BASE[: len(BASE) // 2].encode(), "line")
    assert body["errors"]["bpmn"]


@pytest.mark.parametrize("depth", [100, 3000])
def test_deep_nesting_is_refused(shared, depth):
    data = BASE.replace(START, f"{START}<bpmn:extensionElements>{'<lvyue:x>' * depth}{'</lvyue:x>' * depth}"
                               "</bpmn:extensionElements>").encode()
    body = _refused(shared, data)
    assert "depth" in body["detail"].lower() or "nested" in body["detail"].lower(), body["detail"]


def test_too_many_elements_are_refused(shared):
    data = BASE.replace(START, f"{START}<bpmn:extensionElements>{'<lvyue:x/>' * (diagrams.MAX_ELEMENTS + 10)}"
                               "</bpmn:extensionElements>").encode()
    _refused(shared, data, str(diagrams.MAX_ELEMENTS))


# ---------------------------------------------------------------------------------------- size, encoding, empty
def test_a_body_over_the_request_cap_is_413_problem(shared):
    data = _with_doc("x" * (5 * 1024 * 1024)).encode()
    _refused(shared, data, status=413)


def test_a_diagram_over_the_diagram_size_cap_is_413_problem(shared):
    data = _with_doc("x" * (diagrams.MAX_BYTES + 1024)).encode()
    _refused(shared, data, str(diagrams.MAX_BYTES), status=413)


def test_invalid_utf8_bytes_are_refused_with_a_line(shared):
    data = BASE.encode("utf-8").replace(b"Variation approval", b"Variation \xff\xfe approval")
    body = _refused(shared, data, "line")
    assert "encoding" in body["detail"].lower()



def test_a_latin1_diagram_is_refused_with_422(shared):
    data = BASE.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Variation approval", "Variation appr\u00e9val")
    _refused(shared, data.encode("latin-1"), "UTF-8")


def test_a_utf16_diagram_is_refused_with_422(shared):
    data = BASE.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    _refused(shared, data, "UTF-8")


def test_an_empty_body_is_refused(shared):
    body = _refused(shared, b"", "BPMN", status=400)
    assert body["errors"] == {"bpmn": ["empty body"]}


def test_a_whitespace_body_is_refused(shared):
    _refused(shared, b"  \n\t ", "malformed")


def test_binary_garbage_is_refused(shared):
    _refused(shared, bytes(range(256)) * 4, "malformed")


def test_hostile_xml_in_a_multipart_upload_is_refused_the_same_way(shared):
    data = _doctype('<!ENTITY xxe SYSTEM "file:///etc/passwd">', "&xxe;").encode()
    r = shared.client.post("/api/v1/definitions", headers=shared.people.auth("designer"),
                           data={"file": (io.BytesIO(data), "evil.bpmn")}, content_type="multipart/form-data")
    body = assert_problem(r, 422)
    assert "DOCTYPE" in body["detail"]
    _nothing_stored(shared)


def test_validate_endpoint_reports_hostile_xml_without_5xx(shared):
    for data in (_doctype('<!ENTITY xxe SYSTEM "file:///etc/passwd">', "&xxe;").encode(),
                 b"<html/>", BASE[:100].encode()):
        r = shared.client.post("/api/v1/definitions/validate", data=data, headers={**shared.people.auth("designer"), **XML})
        assert r.status_code == 200 and r.get_json()["valid"] is False and r.get_json()["problems"]
    _nothing_stored(shared)
