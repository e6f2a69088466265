"""Alembic migration scripts of the registry (run by ``Database.migrate``)."""

# The newest revision in ``versions/``: a process compares the database's
# revision with it without loading Alembic (a server restarted on a current
# schema never imports it). Raise it with every new script;
# tests/registry/test_registry_migrations.py checks it against the scripts.
HEAD_REVISION = "0013"
