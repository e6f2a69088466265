"""Event mode in the registry: the message catalog, event batches, per-user event state.

Modules: :mod:`~pushgate.registry.catalog.tables` (the tables),
:mod:`~pushgate.registry.catalog.messages` (catalog and settings CRUD),
:mod:`~pushgate.registry.catalog.batches` (storing and reading batches) and
:mod:`~pushgate.registry.catalog.decide` (the per-user checks and the event sends).
"""
