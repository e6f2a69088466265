"""Alembic migration scripts of the registry (run by ``Database.migrate``)."""
