"""The console app over a real socket and a real SQLite database: login, sessions, CSRF,
roles, throttle, response headers. Each attack is the request a hostile client would send."""
from __future__ import annotations

import re
from urllib.parse import unquote

from supportbot.console.accounts import service
from supportbot.console.web.auth import SESSION_COOKIE
from tests.unit.console.conftest import LEAD, REVIEWER


def test_anonymous_pages_redirect_to_login_and_the_api_answers_401(client):
    for path in ("/", "/conversations", "/users", "/queue", "/conversations/abc"):
        response = client.get(path)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login?next=")
    response = client.get("/conversations?refund=issued")
    location = response.headers["Location"]
    assert unquote(location.split("next=", 1)[1]) == "/conversations?refund=issued"
    for path in ("/api/me", "/api/conversations"):
        response = client.get(path)
        assert response.status == 401 and response.json() == {"error": "login required"}
    response = client.post("/users", data={"email": "x@example.com", "role": "lead",
                                           "password": "p" * 20})
    assert response.status == 303 and response.headers["Location"].startswith("/login")
    page = client.get("/login")
    assert page.status == 200 and 'type="password"' in page.text


def test_health_and_static_files_need_no_login(client):
    assert client.get("/healthz").text == "ok"
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status == 200 and "htmx" in htmx.text
    assert client.get("/static/htmx.LICENSE").status == 200


def test_login_sets_an_httponly_samesite_session_cookie(client):
    response = client.login(*LEAD)
    assert response.status == 303 and response.headers["Location"] == "/"
    set_cookie = [v for v in response.headers.getall("Set-Cookie") if v.startswith(SESSION_COOKIE)]
    assert set_cookie and "HttpOnly" in set_cookie[0] and "SameSite=Lax" in set_cookie[0]
    assert client.get("/api/me").json() == {"email": LEAD[0], "role": "lead"}


def test_wrong_password_is_refused(client):
    response = client.login(LEAD[0], "not the password")
    assert response.status == 401 and "Wrong email or password" in response.text
    assert client.get("/api/me").status == 401


def test_login_without_its_csrf_token_is_refused(client):
    client.get("/login")  # the double-submit cookie is set, but the form field is missing
    response = client.post("/login", data={"email": LEAD[0], "password": LEAD[1]})
    assert response.status == 403
    assert client.get("/api/me").status == 401


def test_a_form_without_the_session_csrf_token_is_refused(lead):
    response = lead.post("/users", data={"email": "new@example.com", "role": "reviewer",
                                         "password": "a-good-long-password"})
    assert response.status == 403 and "CSRF" in response.text
    response = lead.post("/users", data={"email": "new@example.com", "role": "reviewer",
                                         "password": "a-good-long-password",
                                         "csrf_token": "forged-token"})
    assert response.status == 403
    assert "new@example.com" not in lead.get("/users").text
    response = lead.post("/users", data={"email": "new@example.com", "role": "reviewer",
                                         "password": "a-good-long-password",
                                         "csrf_token": lead.csrf()})
    assert response.status == 303
    assert "new@example.com" in lead.get("/users").text


def test_another_sessions_csrf_token_does_not_work(make_client):
    first, second = make_client(), make_client()
    first.login(*LEAD)
    second.login(*LEAD)
    token_of_first = first.csrf()
    response = second.post("/logout", data={"csrf_token": token_of_first})
    assert response.status == 403


def test_logout_ends_the_session_on_the_server(lead):
    token = lead.cookie(SESSION_COOKIE).value
    assert lead.post("/logout", data={"csrf_token": lead.csrf()}).status == 303
    assert lead.get("/api/me").status == 401
    # replaying the old cookie does not bring the session back
    lead.client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
    assert lead.get("/api/me").status == 401


def test_a_reviewer_cannot_manage_users(reviewer, accounts):
    page = reviewer.get("/users")
    assert page.status == 403 and "Only a lead" in page.text
    assert 'href="/users"' not in reviewer.get("/conversations").text
    token = reviewer.get("/conversations").csrf()
    response = reviewer.post("/users", data={"email": "mole@example.com", "role": "lead",
                                             "password": "a-good-long-password",
                                             "csrf_token": token})
    assert response.status == 403
    response = reviewer.post("/users/disable", data={"email": LEAD[0], "csrf_token": token})
    assert response.status == 403
    assert [u.email for u in accounts.list_users()] == [LEAD[0], REVIEWER[0]]
    assert not any(u.disabled for u in accounts.list_users())


def test_a_lead_manages_users(lead, accounts):
    page = lead.get("/users")
    assert page.status == 200 and REVIEWER[0] in page.text
    weak = lead.post("/users", data={"email": "w@example.com", "role": "reviewer",
                                     "password": "short", "csrf_token": page.csrf()})
    assert weak.status == 400 and "at least 12" in weak.text
    assert lead.post("/users/disable", data={"email": REVIEWER[0],
                                             "csrf_token": page.csrf()}).status == 303
    assert [u.disabled for u in accounts.list_users() if u.email == REVIEWER[0]] == [True]
    own = lead.post("/users/disable", data={"email": LEAD[0], "csrf_token": page.csrf()})
    assert own.status == 400


def test_a_disabled_users_session_stops_working(make_client, accounts):
    client = make_client()
    client.login(*REVIEWER)
    assert client.get("/api/me").status == 200
    accounts.set_disabled(REVIEWER[0], True)
    assert client.get("/api/me").status == 401


def test_login_is_throttled_over_http(client):
    for _ in range(service.MAX_FAILURES_PER_ACCOUNT):
        client.login(LEAD[0], "wrong password")
    response = client.login(*LEAD)  # even the right password
    assert response.status == 429 and "Too many failed attempts" in response.text
    assert int(response.headers["Retry-After"]) > 0
    assert client.get("/api/me").status == 401


def test_login_never_redirects_to_another_site(client):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"):
        page = client.get(f"/login?next={target}")
        response = client.post("/login", data={"email": LEAD[0], "password": LEAD[1],
                                               "csrf_token": page.csrf(), "next": target})
        assert response.status == 303 and response.headers["Location"] == "/", target
        client.post("/logout", data={"csrf_token": client.csrf()})


def test_security_headers_on_every_page(lead, client):
    for response in (lead.get("/users"), lead.get("/login"), lead.get("/nowhere")):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
    assert lead.get("/api/me").headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_style(lead):
    for path in ("/users", "/login", "/conversations"):
        html = lead.get(path).text
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag, tag
        assert not re.search(r"<script[^>]*>\s*[^<\s]", html)
        assert "<style" not in html and " style=" not in html and " on" + "click=" not in html
        assert "//cdn" not in html and "https://" not in html
