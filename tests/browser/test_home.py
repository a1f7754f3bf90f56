"""The landing page `/` in real Chromium: one sign-in with a token, then the links the role may use, carried by
every page of the tab; and no page of Lvyue loads anything from another host (the `page` fixture records every
request of the browser context and fails the test on any that left 127.0.0.1)."""
from __future__ import annotations

from playwright.sync_api import expect

from tests import requests_shim as http
from tests.browser.conftest import sign_in
from tests.browser.test_dashboard import start
from tests.conftest import ROOT

from datetime import date, timedelta

ALL = ["/tasks", "/contracts", "/dashboard", "/bulletin", "/credit", "/modeler", "/docs"]
BY_ROLE = {
    "emp": ["/tasks", "/contracts", "/credit", "/docs"],  # a party
    "zj": ["/tasks", "/contracts", "/dashboard", "/bulletin", "/credit", "/docs"],  # a supervisor
    "designer": ["/credit", "/modeler", "/docs"],
    "admin": ALL,
}


def visible_links(page, selector):
    return [a.get_attribute("href") for a in page.locator(selector).all() if a.is_visible()]


def test_the_landing_page_signs_in_once_and_links_what_the_role_may_use(page, live):
    r = http.request("GET", live.base + "/")
    assert r.status == 200 and "text/html" in r.headers["Content-Type"]
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    for who, expected in BY_ROLE.items():
        page.goto(f"{live.base}/")
        expect(page.get_by_label("API token")).to_be_visible()
        sign_in(page, live.people.tokens[who])
        expect(page.locator("body[data-ready=true]")).to_have_count(1)
        expect(page.locator("#whoami")).to_contain_text(who)
        assert visible_links(page, "#pages li[data-roles]:visible a") == expected, who
        assert visible_links(page, "#nav a[data-roles]") == expected, who
        # The public credit library (no token needed) is linked for every role; a route the server does not
        # have is never linked (pages.py lists a link only when its route exists).
        assert page.locator('a[href="/credit"]').count() >= 1
        assert page.locator('a[href="/no-such-page"]').count() == 0
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{live.base}/")
        expect(page.get_by_label("API token")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('lvyue.token')") is None

    # A wrong token is refused on the page, and nothing is linked.
    sign_in(page, "lvy_not-a-token")
    expect(page.locator("#token-error")).to_contain_text("401")
    expect(page.locator("#app")).to_be_hidden()


def test_signed_in_once_every_linked_page_opens_without_asking_again_and_loads_nothing_foreign(page, live, screenshots):
    """Admin (all links): sign in on `/`, follow every link in the same tab; each page is served, opens signed in,
    and only 127.0.0.1 is ever contacted (asserted by the fixture for the whole browser context)."""
    designer = live.people.auth("designer")
    r = http.request("POST", live.base + "/api/v1/definitions", raw=(ROOT / "bpmn" / "post_award.bpmn").read_bytes(),
                     headers={**designer, "Content-Type": "application/xml"})
    assert r.status in (200, 201), r.body[:300]
    today = date.today()
    started = start(live, "LH-HOME-1", today - timedelta(days=5), today + timedelta(days=90))
    page.goto(f"{live.base}/")
    sign_in(page, live.people.tokens["admin"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    page.screenshot(path=str(screenshots / "home.png"))
    for path in ALL + ["/contracts/LH-HOME-1", f"/instances/{started['id']}/view"]:
        if path in ALL:
            page.locator(f'#nav a[href="{path}"]').click()
            page.wait_for_url(f"{live.base}{path}")
        else:
            page.goto(f"{live.base}{path}")
        if path == "/docs":
            expect(page.locator(".swagger-ui")).to_be_visible()
            page.wait_for_load_state("networkidle")
            page.go_back()
            continue
        if path == "/credit":
            # The public library is rendered on the server, without script or token: it only has to be served.
            expect(page.locator("h1")).to_be_visible()
            page.go_back()
            continue
        expect(page.locator("body[data-ready=true]"), f"{path}: {page.locator('#status').text_content()}").to_have_count(1, timeout=20_000)
        expect(page.get_by_label("API token")).to_be_hidden()  # the tab's token came along
        expect(page.locator("#nav")).to_be_visible()
        if path in ALL:
            expect(page.locator(f'#nav a[href="{path}"]')).to_have_attribute("aria-current", "page")
        page.wait_for_load_state("networkidle")
    assert any(u.endswith("/api/v1/me") for u in page.requests.urls)
