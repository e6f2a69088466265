"""Deliveries over time as an inline SVG bar chart (server-rendered: no script, no library).

One stacked bar per time slice, one colour per outcome; the chart carries a
``<title>`` and a text summary for screen readers (WAI-ARIA ``role="img"``
with ``aria-labelledby``), and each bar a ``<title>`` with its numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from pushgate.registry.admin_queries import TimeBucket

WIDTH, HEIGHT = 600, 160
COLOURS = {"sent": "#2e7d32", "failed": "#c62828", "dead": "#6d4c41", "expired": "#f9a825",
           "cancelled": "#757575"}


def timeline_svg(buckets: Sequence[TimeBucket]) -> str:
    """The SVG markup (already escaped), or an empty string when nothing was recorded yet."""
    if not buckets:
        return ""
    peak = max(bucket.total for bucket in buckets) or 1
    slot = WIDTH / len(buckets)
    bars: list[str] = []
    for index, bucket in enumerate(buckets):
        x = index * slot
        y = float(HEIGHT)
        parts = ", ".join(f"{status} {count}" for status, count in sorted(bucket.counts.items()))
        label = escape(f"{bucket.start:%H:%M:%S} UTC: {parts or 'nothing'}")
        bars.append(f'<g><title>{label}</title>')
        for status in COLOURS:
            count = bucket.counts.get(status, 0)
            if not count:
                continue
            height = HEIGHT * count / peak
            y -= height
            bars.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
                        f'height="{height:.1f}" fill="{COLOURS[status]}"/>')
        bars.append("</g>")
    first, last = buckets[0].start, buckets[-1].start
    total = sum(bucket.total for bucket in buckets)
    summary = escape(f"{total:,} outcomes recorded between {first:%H:%M:%S} and {last:%H:%M:%S} UTC; "
                     f"the busiest slice had {peak:,}")
    legend = "".join(
        f'<span class="legend"><span class="swatch" style="background:{colour}"></span>{status}</span>'
        for status, colour in COLOURS.items()
    )
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" '
            f'aria-labelledby="chart-title"><title id="chart-title">{summary}</title>{"".join(bars)}</svg>'
            f'<p class="chart-legend">{legend}</p><p class="visually-hidden">{summary}</p>')
