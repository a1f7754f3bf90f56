"""Process definitions: deploy a checked diagram as a new version, or find one that exists."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine import clock
from engine.runtime import diagrams, forms, hooks, spiff
from engine.access.authz import require_role
from engine.storage.db import Database
from engine.access.directory import Principal
from engine.errors import Conflict, Invalid, NotFound, TooLarge
from engine.storage.models import Definition
from engine.storage.pagination import page


def view(d: Definition) -> dict[str, Any]:
    return {"id": d.id, "key": d.key, "version": d.version, "name": d.name, "sha256": d.sha256,
            "deployed_at": d.deployed_at}


def _rejected(exc: diagrams.DiagramRejected) -> Invalid:
    messages = []
    for p in exc.problems:
        where = " ".join(x for x in (f"element '{p.element_id}'" if p.element_id else "",
                                     f"line {p.line}" if p.line else "") if x)
        messages.append(f"{where}: {p.message}" if where else p.message)
    return Invalid(f"the diagram cannot be deployed: {messages[0]}" + (f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""),
                   {"bpmn": messages})


def _size_check(data: bytes) -> None:
    if len(data) > diagrams.MAX_BYTES:
        raise TooLarge(f"the diagram is {len(data)} bytes; at most {diagrams.MAX_BYTES} are accepted")


def validate(principal: Principal, data: bytes) -> dict[str, Any]:
    require_role(principal, "designer")
    _size_check(data)
    problems = diagrams.validate(data)
    return {"valid": not problems, "problems": [p.as_dict() for p in problems]}


def deploy(db: Database, principal: Principal, data: bytes) -> tuple[dict[str, Any], bool]:
    """(the definition, created?). The same bytes deployed again return the existing version."""
    require_role(principal, "designer")
    _size_check(data)
    try:
        diagram = diagrams.read(data)
    except diagrams.DiagramRejected as exc:
        raise _rejected(exc) from None
    spec_json = spiff.dump_spec(diagram.bundle)
    for _attempt in range(3):
        try:
            with db.transaction() as session:
                existing = session.scalar(select(Definition).where(Definition.key == diagram.key,
                                                                   Definition.sha256 == diagram.sha256))
                if existing is not None:
                    return view(existing), False
                latest = session.scalar(select(func.max(Definition.version)).where(Definition.key == diagram.key)) or 0
                definition = Definition(key=diagram.key, version=latest + 1, name=diagram.name, sha256=diagram.sha256,
                                        xml=diagram.xml, spec=spec_json, model_json=diagram.model,
                                        deployed_at=clock.now(), deployed_by=principal.name)
                session.add(definition)
                session.flush()
                return view(definition), True
        except IntegrityError:
            continue  # another deploy of the same key took this version number: count again
    raise Conflict("concurrent deployments of this definition; try again")


def models_of(session, definition_ids: set[int]) -> dict[int, dict[str, Any]]:
    """The lint models of definition versions, parsed once per process (`Definition.model`)."""
    rows = session.scalars(select(Definition).where(Definition.id.in_(definition_ids))).all()
    return {d.id: d.model for d in rows}


def find(session, key: str, version: int | None = None) -> Definition | None:
    query = select(Definition).where(Definition.key == key)
    if version is not None:
        return session.scalar(query.where(Definition.version == version))
    return session.scalar(query.order_by(Definition.version.desc()).limit(1))


def _visible_to(principal: Principal) -> None:
    # Definitions are the public rules of the process: everyone signed in may read them.
    if principal.role not in ("admin", "operator", "designer", "party", "supervisor"):
        raise NotFound("no such definition")


def get(db: Database, principal: Principal, key: str, version: int | None = None) -> dict[str, Any]:
    _visible_to(principal)
    with db.read() as session:
        d = find(session, key, version)
        if d is None:
            raise NotFound(f"no definition {key}" + (f" version {version}" if version else ""))
        out = view(d)
        out["roles"] = d.model.get("roles", [])
        out["user_tasks"] = [{"element_id": k, "name": v["name"], "lane": v["lane"]} for k, v in d.model.get("user_tasks", {}).items()]
        out["start_form"] = d.model.get("start_form", [])
        out["start_schema"] = start_schema(d.key, d.model)
        return out


PARTY_LANES = ("employer", "contractor", "guarantor")


def start_schema(key: str, model: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of `POST /instances` `data` for this definition: the start form's fields plus the role
    bindings its lanes need (an organisation code per party lane, the department for a supervisor lane)."""
    schema = forms.json_schema(model.get("start_form", []))
    schema.setdefault("properties", {})
    schema["type"] = "object"
    required = list(schema.get("required", []))
    optional = hooks.REGISTRY.optional_roles.get(key, frozenset())
    roles = set(model.get("roles", []))
    bindings = [(r, f"the organisation code of the {r} lane") for r in PARTY_LANES if r in roles]
    if "supervisor" in roles:
        bindings.append(("department", "the supervising department's code"))
    for name, description in bindings:
        schema["properties"][name] = {"type": "string", "maxLength": 64, "description": description}
        lane = "supervisor" if name == "department" else name
        if lane not in optional and name not in optional:
            required.append(name)
    schema["required"] = required
    return schema


def get_xml(db: Database, principal: Principal, key: str, version: int) -> str:
    _visible_to(principal)
    with db.read() as session:
        d = find(session, key, version)
        if d is None:
            raise NotFound(f"no definition {key} version {version}")
        return d.xml


def list_latest(db: Database, principal: Principal, limit: int | None, cursor: str | None, key: str | None = None) -> dict[str, Any]:
    _visible_to(principal)
    with db.read() as session:
        query = select(Definition)
        if key:
            query = query.where(Definition.key == key)
        else:
            latest = select(Definition.key, func.max(Definition.version).label("v")).group_by(Definition.key).subquery()
            query = query.join(latest, (Definition.key == latest.c.key) & (Definition.version == latest.c.v))
        return page(session, query, [Definition.key, Definition.version], limit, cursor, view)
