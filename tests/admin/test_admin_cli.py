"""``pushgate admin …``: creating admin users, their grants and passwords, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner, Result

from pushgate.cli import app as cli
from pushgate.registry import Database, create_app
from pushgate.registry.admin_users import attempt_login, get_admin_user, granted_app_ids
from tests.admin.admin_helpers import PASSWORD


def run(db: Database, *args: str, password: str | None = None) -> Result:
    env = {"PUSHGATE_DATABASE_URL": db.url.render_as_string(hide_password=False), "PUSHGATE_CONFIG": None}
    return CliRunner().invoke(cli, list(args), env=env, input=None if password is None else f"{password}\n")


def test_create_grant_revoke_and_list(database: Database) -> None:
    with database.session() as session:
        shop, _ = create_app(session, "shop")
        blog, _ = create_app(session, "blog")
        shop_id, blog_id = shop.id, blog.id
    root = run(database, "admin", "create-user", "root", "--superuser", "--password-stdin", password=PASSWORD)
    assert root.exit_code == 0, root.output
    assert "sees every app (superuser)" in root.output
    bob = run(database, "admin", "create-user", "bob", "--app", "shop", "--password-stdin", password=PASSWORD)
    assert bob.exit_code == 0, bob.output
    assert "sees shop" in bob.output
    assert run(database, "admin", "grant", "bob", str(blog_id)).exit_code == 0
    with database.session(write=False) as session:
        user = get_admin_user(session, "bob")
        assert user is not None
        assert granted_app_ids(session, user) == {shop_id, blog_id}
    revoked = run(database, "admin", "revoke", "bob", "shop")
    assert "bob no longer manages shop." in revoked.output
    listing = run(database, "admin", "list-users")
    assert "root\tsuperuser\tevery app" in listing.output
    assert "bob\tadmin\tblog" in listing.output


def test_refusals_name_the_problem(database: Database) -> None:
    short = run(database, "admin", "create-user", "amy", "--password-stdin", password="short")
    assert short.exit_code == 1
    assert "password: must be 12 to 1024 characters" in short.output
    bad_name = run(database, "admin", "create-user", "a b", "--password-stdin", password=PASSWORD)
    assert "username:" in bad_name.output
    assert run(database, "admin", "create-user", "amy", "--password-stdin", password=PASSWORD).exit_code == 0
    twice = run(database, "admin", "create-user", "amy", "--password-stdin", password=PASSWORD)
    assert "an admin user 'amy' exists" in twice.output
    no_app = run(database, "admin", "grant", "amy", "nowhere")
    assert no_app.exit_code == 1
    assert "no app 'nowhere'" in no_app.output
    assert "no admin user 'zed'" in run(database, "admin", "delete-user", "zed").output


def test_a_new_password_unlocks_the_account(database: Database) -> None:
    assert run(database, "admin", "create-user", "amy", "--password-stdin", password=PASSWORD).exit_code == 0
    with database.session() as session:
        for _ in range(3):
            attempt_login(session, "amy", "wrong", max_failures=3, lockout=timedelta(hours=1))
        assert (
            attempt_login(session, "amy", PASSWORD, max_failures=3, lockout=timedelta(hours=1)).user is None
        )
    new = "a completely new passphrase"
    assert run(database, "admin", "set-password", "amy", "--password-stdin", password=new).exit_code == 0
    with database.session() as session:
        assert attempt_login(session, "amy", new, max_failures=3, lockout=timedelta(hours=1)).user is not None
    deleted = run(database, "admin", "delete-user", "amy")
    assert deleted.exit_code == 0
    with database.session(write=False) as session:
        assert get_admin_user(session, "amy") is None
