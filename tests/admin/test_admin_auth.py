"""Signing in: passwords, sessions, CSRF on every form, lock-out, logout, safe redirects."""

from __future__ import annotations

from datetime import timedelta

from pushgate.registry import list_api_keys
from pushgate.registry.admin_users import attempt_login, find_admin_session, start_admin_session
from pushgate.registry.models import utcnow
from tests.admin.admin_helpers import PASSWORD, csrf_of, make_admin
from tests.admin.conftest import AdminUi


async def test_a_signed_out_visitor_is_sent_to_the_sign_in_page(ui: AdminUi, shop: tuple[int, str]) -> None:
    browser = await ui.open_browser()
    answer = await browser.get(f"/admin/apps/{shop[0]}/devices")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/login?next=/admin/apps/{shop[0]}/devices"
    page = await browser.get("/admin/login")
    assert '<label for="username">User name</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    # A form post without a session changes nothing.
    refused = await browser.post(f"/admin/apps/{shop[0]}/keys", {"name": "sneaky"}, csrf="x")
    assert refused.status_code == 401
    with ui.db.session(write=False) as session:
        assert len(list_api_keys(session, shop[0])) == 1


async def test_the_right_password_signs_in_and_the_wrong_one_does_not(ui: AdminUi) -> None:
    make_admin(ui.db, "alice", superuser=True)
    browser = await ui.open_browser()
    wrong = await browser.login("alice", "not the password at all")
    assert wrong.status_code == 401
    assert "Wrong user name or password." in wrong.text
    unknown = await browser.login("mallory", PASSWORD)
    assert unknown.status_code == 401
    assert "Wrong user name or password." in unknown.text  # the same answer for an unknown name
    right = await browser.login("alice")
    assert right.status_code == 303
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/admin" in cookie
    overview = await browser.get("/admin/")
    assert overview.status_code == 200
    assert "frame-ancestors 'none'" in overview.headers["content-security-policy"]
    assert overview.headers["cache-control"] == "no-store"
    assert "alice" in overview.text
    assert "(superuser)" in overview.text


async def test_every_form_needs_the_session_csrf_token(ui: AdminUi, shop: tuple[int, str]) -> None:
    browser = await ui.signed_in("alice", superuser=True)
    for token in ("", "forged-token"):
        answer = await browser.post(f"/admin/apps/{shop[0]}/keys", {"name": "from elsewhere"}, csrf=token)
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    with ui.db.session(write=False) as session:
        assert [k.name for k in list_api_keys(session, shop[0])] == ["default"]  # only the first key
    accepted = await browser.post(f"/admin/apps/{shop[0]}/keys", {"name": "ci"})
    assert accepted.status_code == 201
    # Another admin's token does not work either: tokens belong to sessions.
    other = await ui.signed_in("bob", superuser=True)
    crossed = await browser.post(f"/admin/apps/{shop[0]}/keys", {"name": "crossed"}, csrf=other.csrf)
    assert crossed.status_code == 403


async def test_the_sign_in_form_has_its_own_csrf_check(ui: AdminUi) -> None:
    make_admin(ui.db, "alice")
    browser = await ui.open_browser()
    # No login cookie (a form on another site posting here): refused before the password is checked.
    answer = await browser.client.post(
        "/admin/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": "guess", "next": "/admin/"},
    )
    assert answer.status_code == 403
    assert "pushgate_admin=" not in answer.headers.get("set-cookie", "")


async def test_repeated_failures_lock_the_account(ui: AdminUi) -> None:
    make_admin(ui.db, "alice")
    browser = await ui.open_browser()
    for _ in range(ui.settings.admin_max_failed_logins - 1):
        answer = await browser.login("alice", "wrong password, again")
        assert "Wrong user name or password." in answer.text
    locked = await browser.login("alice", "wrong password, again")
    assert locked.status_code == 401
    assert "locked until" in locked.text
    # While locked, even the right password is refused.
    still = await browser.login("alice")
    assert still.status_code == 401
    assert "locked until" in still.text


def test_a_lock_ends_after_the_lockout_and_a_success_resets_the_count(ui: AdminUi) -> None:
    make_admin(ui.db, "alice")
    now = utcnow()
    lockout = timedelta(minutes=15)
    with ui.db.session() as session:
        for _ in range(3):
            assert (
                attempt_login(session, "alice", "nope", max_failures=3, lockout=lockout, now=now).user is None
            )
        locked = attempt_login(session, "alice", PASSWORD, max_failures=3, lockout=lockout, now=now)
        assert locked.user is None
        assert locked.locked_until == now + lockout
        later = now + lockout + timedelta(seconds=1)
        assert attempt_login(session, "alice", PASSWORD, max_failures=3, lockout=lockout, now=later).user
        # The count starts again from zero after a success.
        for _ in range(2):
            attempt_login(session, "alice", "nope", max_failures=3, lockout=lockout, now=later)
        assert attempt_login(session, "alice", PASSWORD, max_failures=3, lockout=lockout, now=later).user


def test_sessions_expire(ui: AdminUi) -> None:
    make_admin(ui.db, "alice")
    now = utcnow()
    with ui.db.session() as session:
        from pushgate.registry.admin_users import require_admin_user

        token = start_admin_session(
            session, require_admin_user(session, "alice"), lifetime=timedelta(hours=1), now=now
        )
        assert find_admin_session(session, token, now=now + timedelta(minutes=59)) is not None
        assert find_admin_session(session, token, now=now + timedelta(hours=1)) is None
        assert find_admin_session(session, token + "x", now=now) is None


async def test_logout_ends_the_session(ui: AdminUi) -> None:
    browser = await ui.signed_in("alice", superuser=True)
    cookie = browser.client.cookies.get("pushgate_admin")
    assert cookie
    out = await browser.post("/admin/logout")
    assert out.status_code == 303
    assert out.headers["location"] == "/admin/login"
    browser.client.cookies.set("pushgate_admin", cookie, path="/admin")  # replaying the old cookie
    again = await browser.get("/admin/")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/admin/login")


async def test_after_sign_in_only_admin_paths_are_followed(ui: AdminUi) -> None:
    make_admin(ui.db, "alice")
    browser = await ui.open_browser()
    for next_path, expected in (
        ("https://evil.example/", "/admin/"),
        ("//evil.example/x", "/admin/"),
        ("/admin/apps", "/admin/apps"),
    ):
        form = await browser.get("/admin/login")
        answer = await browser.client.post(
            "/admin/login",
            data={
                "username": "alice",
                "password": PASSWORD,
                "csrf_token": csrf_of(form.text),
                "next": next_path,
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == expected
