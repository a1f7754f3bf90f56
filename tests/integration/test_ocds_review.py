"""Issue 22, acceptance 2: the official OCDS review (libcoveocds, the Data Review Tool's library, with the 1.1.5
standard given as a local ZIP and the declared extensions from docs/ocds/extensions) finds no validation error and
no conformance error in a month's release package — and nothing else to flag: every field beyond the core schema
is declared by an extension, no closed-codelist value is foreign, no field is empty. tests/ocds_review.py runs it
offline. The review really checks: the old ocid prefix and an undeclared extension are both reported.
"""
from __future__ import annotations

import copy
import os

import pytest

from engine.supervision import ocds
from tests.e2e.test_post_award import just_after_midnight
from tests.integration.test_ocds import package_of
from tests.ocds_review import review

try:
    import libcoveocds  # noqa: F401
except ImportError as exc:  # pragma: no cover - the test extra is missing
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"libcoveocds is not installed ({exc}); pip install -e '.[test]'", allow_module_level=True)


def _clean(report: dict) -> dict:
    """What the review flags, by kind ({} when it flags nothing)."""
    flagged = {
        "validation_errors": report.get("validation_errors"),
        "conformance_errors": report.get("conformance_errors"),
        "invalid_extensions": report["extensions"]["invalid_extensions"] if report.get("extensions") else None,
        "additional_fields": report.get("additional_fields"),
        "additional_closed_codelist_values": report.get("additional_closed_codelist_values"),
        "additional_checks": report.get("additional_checks"),
        "json_deref_error": report.get("json_deref_error"),
    }
    return {k: v for k, v in flagged.items() if v}


@pytest.fixture
def october_package(api) -> dict:
    """The month of tests/integration/test_reports.py: on time (completed), late, in arrears, partly paid, a bond
    held, a contract not yet signed — with guarantees, SME contractors and payments."""
    from tests.integration.test_reports import october

    october(api)
    return package_of(api, "2026-10", just_after_midnight(11, 1))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the review reads the JSON; one database suffices
def test_a_months_package_passes_the_official_review_without_errors(october_package, tmp_path):
    package = october_package
    assert {tuple(r["tag"]) for r in package["releases"]} >= {
        ("award", "contract", "implementation", "contractTermination"), ("award", "contract", "implementation")}
    assert package["extensions"] == [ocds.PARTY_SCALE_EXTENSION, ocds.TRANSACTION_MILESTONES_EXTENSION,
                                     ocds.METRICS_EXTENSION, ocds.CONTRACT_COMPLETION_EXTENSION,
                                     ocds.GUARANTEES_EXTENSION_URL]
    report = review(package, tmp_path)
    assert _clean(report) == {}
    # Every declared extension was read (from the shipped copies: the review made no other request) and applied.
    assert report["extensions"]["is_extended_schema"] is True
    assert sorted(e["url"] for e in report["extensions"]["extensions"]) == sorted(package["extensions"])
    assert report["fetched"] and all("contratacionesabiertas" in u or "open-contracting-extensions" in u
                                     for u in report["fetched"])
    assert report["count"] == len(package["releases"]) == 5


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_review_reports_an_unregistered_prefix_and_an_undeclared_extension(october_package, tmp_path):
    old = copy.deepcopy(october_package)
    for r in old["releases"]:
        r["ocid"] = r["ocid"].replace(ocds.DEFAULT_PREFIX, "ocds-lvyue-")  # the prefix before issue 22
    assert _clean(review(old, tmp_path))["conformance_errors"]["ocds_prefixes_bad_format"]

    undeclared = copy.deepcopy(october_package)
    undeclared["extensions"].remove(ocds.PARTY_SCALE_EXTENSION)
    flagged = _clean(review(undeclared, tmp_path))
    assert [(f["path"], f["field"]) for f in flagged["additional_fields"]] == [("/releases/parties/details", "scale")]

    wrong = copy.deepcopy(october_package)
    wrong["releases"][0]["tag"] = ["done"]
    wrong["releases"][0]["contracts"][0]["implementation"]["milestones"][0]["status"] = "late"
    wrong["releases"][0]["contracts"][0]["dateSigned"] = "2026-08-12"
    flagged = _clean(review(wrong, tmp_path))
    assert [e["path"] for e in flagged["validation_errors"]] == ["releases/0/contracts/0/dateSigned"]
    # closed codelists (releaseTag, milestoneStatus) are reported apart from the schema's other errors
    assert set(flagged["additional_closed_codelist_values"]) == {
        "releases/tag", "releases/contracts/implementation/milestones/status"}
