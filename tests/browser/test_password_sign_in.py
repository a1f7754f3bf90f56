"""Sign-in with a user name and password in real Chromium (issue 19): the landing page offers it beside the token;
a wrong password shows the API's answer and signs nobody in; the right one opens a cookie session (HttpOnly: no
script sees it) with which the pages read and change (CSRF token sent by the page), and Sign out ends it."""
from __future__ import annotations

from playwright.sync_api import expect

from engine.access import passwords
from engine.storage.db import Database
from tests import requests_shim as http

PASSWORD = "school finance 2026"


def test_a_party_signs_in_with_a_password_works_and_signs_out(page, live, screenshots):
    database = Database(live.db_url)
    with database.transaction() as s:
        passwords.set_password(s, "emp", PASSWORD)
    database.dispose()

    page.goto(f"{live.base}/")
    expect(page.get_by_label("API token")).to_be_visible()  # both ways are offered
    expect(page.get_by_label("User name")).to_be_visible()
    page.screenshot(path=str(screenshots / "sign-in.png"))
    page.get_by_label("User name").fill("emp")
    page.get_by_label("Password", exact=False).last.fill("not the password")
    page.get_by_role("button", name="Sign in with password").click()
    expect(page.locator("#password-error")).to_contain_text(passwords.WRONG)
    expect(page.locator("#app")).to_be_hidden()

    page.get_by_label("User name").fill("emp")
    page.locator("#password-input").fill(PASSWORD)
    page.get_by_role("button", name="Sign in with password").click()
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("#whoami")).to_contain_text("emp")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["lvyue_session"]["httpOnly"] and cookies["lvyue_session"]["sameSite"] == "Lax"
    assert not cookies["lvyue_csrf"]["httpOnly"]
    assert page.evaluate("() => document.cookie").count("lvyue_session") == 0  # out of reach of scripts
    assert page.evaluate("() => sessionStorage.getItem('lvyue.token')") is None  # no token in the tab

    # another page of the same browser is signed in by the cookie
    page.goto(f"{live.base}/tasks")
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("#whoami")).to_contain_text("emp")
    # a change by the page carries the CSRF token: signing out (DELETE) succeeds and ends the session
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live.base}/")
    expect(page.get_by_label("API token")).to_be_visible()
    assert "lvyue_session" not in {c["name"] for c in page.context.cookies()}
    cookie = f"lvyue_session={cookies['lvyue_session']['value']}"
    assert http.request("GET", live.base + "/api/v1/me", headers={"Cookie": cookie}).status == 401
