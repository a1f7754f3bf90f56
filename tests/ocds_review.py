"""The official OCDS data review (libcoveocds, the library of the Data Review Tool) run offline over a package.

libcoveocds reads the standard through ocdsextensionregistry's ProfileBuilder, from a ZIP of the standard's
repository (its `standard_zip` option, which also takes the ZIP's bytes): that ZIP is built here from the 1.1.5
release and package schemas and the rest of the release's schema/ folder shipped
in docs/ocds/standard-1__1__5 (codelists, versioned-release validation and record package schemas). Extensions
are read by their official URLs, which the package declares; the session ocdsextensionregistry fetches with is
given an adapter that answers them from docs/ocds/extensions and refuses every other URL, so a review never
touches the network and an undeclared or unshipped extension fails loudly.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.response import HTTPResponse

ROOT = Path(__file__).resolve().parents[1]
STANDARD = ROOT / "docs" / "ocds" / "standard-1__1__5"
EXTENSIONS = ROOT / "docs" / "ocds" / "extensions"
MIRRORED_HOST = "raw.githubusercontent.com"


def standard_zip() -> bytes:
    """The OCDS 1.1.5 release as ProfileBuilder reads it: one top folder with schema/ inside."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("standard-1__1__5/", "")
        for path in sorted((STANDARD / "schema").rglob("*")):
            if path.is_file():
                z.write(path, f"standard-1__1__5/schema/{path.relative_to(STANDARD / 'schema').as_posix()}")
    return out.getvalue()


class ShippedExtensions(BaseAdapter):
    """Answers https://raw.githubusercontent.com/OWNER/REPO/REF/FILE from docs/ocds/extensions/OWNER/REPO/REF/FILE,
    and GitHub's archive of that folder (https://github.com/OWNER/REPO/archive/REF.zip, which ocdsextensionregistry
    prefers for a GitHub-hosted extension) as a ZIP built from it; anything else is refused."""

    def __init__(self):
        super().__init__()
        self.requested: list[str] = []

    def send(self, request, **kwargs):
        self.requested.append(request.url)
        parts = urlsplit(request.url)
        response = requests.Response()
        response.url, response.request = request.url, request
        body = None
        if parts.scheme == "https" and parts.hostname == MIRRORED_HOST:
            path = (EXTENSIONS / parts.path.lstrip("/")).resolve()
            if EXTENSIONS.resolve() in path.parents and path.is_file():
                body = path.read_bytes()
        elif parts.scheme == "https" and parts.hostname == "github.com" and "/archive/" in parts.path:
            owner_repo, _, ref = parts.path.strip("/").partition("/archive/")
            folder = (EXTENSIONS / owner_repo / ref.removesuffix(".zip")).resolve()
            if EXTENSIONS.resolve() in folder.parents and folder.is_dir():
                body = _zip_of(folder, f"{owner_repo.split('/')[-1]}-{ref.removesuffix('.zip')}/")
        else:
            raise requests.ConnectionError(f"the OCDS review runs offline: no {request.url}")
        response.status_code, response.reason = (200, "OK") if body is not None else (404, "Not Found")
        # A urllib3 response, as HTTPAdapter gives: the session ocdsextensionregistry uses is a requests-cache one.
        response.raw = HTTPResponse(body=io.BytesIO(body or b""), status=response.status_code, reason=response.reason,
                                    headers={}, preload_content=False, request_url=request.url)
        response.headers = CaseInsensitiveDict()
        return response

    def close(self):
        pass


def _zip_of(folder: Path, top: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(top, "")
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, top + path.relative_to(folder).as_posix())
    return out.getvalue()


def review(package: dict, output_dir: Path) -> dict:
    """libcoveocds' report (API context) on a release package, offline."""
    from libcoveocds.api import ocds_json_output
    from libcoveocds.config import LibCoveOCDSConfig
    from ocdsextensionregistry import util

    adapter = ShippedExtensions()
    saved = dict(util.session.adapters)
    for prefix in ("https://", "http://"):
        util.session.mount(prefix, adapter)
    util.session.cache.clear()
    try:
        config = LibCoveOCDSConfig({"standard_zip": standard_zip(), "context": "api"})
        context = ocds_json_output(str(output_dir), json_data=package, lib_cove_ocds_config=config)
    finally:
        util.session.adapters.clear()
        for prefix, original in saved.items():
            util.session.mount(prefix, original)
    context["fetched"] = adapter.requested
    return context
