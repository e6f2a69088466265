"""Pushkin compatibility: Pushkin's request formats and what its numbers mean in pushgate.

Pushkin (github.com/Nordeus/pushkin) takes notifications and events over
HTTP as JSON or protobuf. This package holds everything about Pushkin that
is not HTTP: its ``.proto`` schemas and the message classes built from them
(:mod:`~pushgate.pushkin.proto`), the readers of its request bodies
(:mod:`~pushgate.pushkin.requests`), and the mapping of its user ids,
platform ids and language ids to pushgate's (:mod:`~pushgate.pushkin.mapping`).
The routes are in ``pushgate.server.routes.pushkin``; the migration guide is
docs/pushkin.md.
"""
