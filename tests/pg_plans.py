"""Reading PostgreSQL's ``EXPLAIN (ANALYZE, FORMAT JSON)`` plans in tests: how many rows a plan read."""

from __future__ import annotations

from typing import Any


def rows_read(node: dict[str, Any], table: str) -> float:
    """Rows the plan's scans of ``table`` read (returned or filtered out), over all their loops."""
    own = 0.0
    if node.get("Relation Name") == table:
        per_loop = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        own = per_loop * node["Actual Loops"] + node.get("Rows Removed by Index Recheck", 0)
    return own + sum(rows_read(child, table) for child in node.get("Plans", ()))
