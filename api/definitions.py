"""/api/v1/definitions — deploy and read process definitions."""
from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from engine.runtime import definitions
from engine.errors import Malformed

from . import schemas
from .auth import db, principal

blp = Blueprint("definitions", __name__, url_prefix="/api/v1/definitions", description="Process definitions (BPMN)")

XML_BODY = {"required": True, "content": {
    "application/xml": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
}}


def _diagram_bytes() -> bytes:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise Malformed("send the diagram in the multipart field 'file'", {"file": ["missing"]})
        return upload.read()
    data = request.get_data(cache=False)
    if not data:
        raise Malformed("send BPMN 2.0 XML as the body (Content-Type: application/xml) or a multipart field 'file'",
                        {"bpmn": ["empty body"]})
    return data


@blp.route("", methods=["POST"])
@blp.doc(operationId="deploy_definition")
@blp.doc(requestBody=XML_BODY, responses={"422": {"description": "the diagram was refused; errors.bpmn lists each problem"}})
@blp.response(201, schemas.DefinitionOut, description="deployed as a new version")
@blp.alt_response(200, schema=schemas.DefinitionOut, description="the same bytes were deployed before: the existing version")
def deploy():
    """Validate and deploy a diagram as the next version of its process."""
    who = principal()
    out, created = definitions.deploy(db(), who, _diagram_bytes())
    return out, 201 if created else 200


@blp.route("/validate", methods=["POST"])
@blp.doc(operationId="validate_definition")
@blp.doc(requestBody=XML_BODY)
@blp.response(200, schemas.ValidationOut)
def validate():
    """Lint a diagram without deploying it."""
    who = principal()
    return definitions.validate(who, _diagram_bytes())


@blp.route("", methods=["GET"])
@blp.doc(operationId="list_definitions")
@blp.arguments(schemas.DefinitionListArgs, location="query")
@blp.response(200, schemas.DefinitionPage)
def list_definitions(args):
    """The latest version of every definition (or every version of `key`)."""
    return definitions.list_latest(db(), principal(), args["limit"], args["cursor"], args["key"])


@blp.route("/<string:key>", methods=["GET"])
@blp.doc(operationId="get_definition")
@blp.response(200, schemas.DefinitionDetail)
def latest(key):
    return definitions.get(db(), principal(), key)


@blp.route("/<string:key>/versions/<int(min=1, max=2147483647):version>", methods=["GET"])
@blp.doc(operationId="get_definition_version")
@blp.response(200, schemas.DefinitionDetail)
def version(key, version):
    return definitions.get(db(), principal(), key, version)


@blp.route("/<string:key>/versions/<int(min=1, max=2147483647):version>/xml", methods=["GET"])
@blp.doc(operationId="get_definition_xml")
@blp.doc(responses={"200": {"description": "the BPMN 2.0 XML of that version, byte for byte as deployed",
                            "content": {"application/xml": {"schema": {"type": "string"}}}}})
def xml(key, version):
    return Response(definitions.get_xml(db(), principal(), key, version), mimetype="application/xml")
