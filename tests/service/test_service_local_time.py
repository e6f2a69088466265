"""Local-time sends: the next HH:MM in each zone, zones grouped by instant (DST included)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from pushgate.registry import ValidationError
from pushgate.service.local_time import group_zones, next_local, parse_local_time


def test_next_local_is_today_or_tomorrow() -> None:
    now = datetime(2030, 6, 1, 6, 30, tzinfo=UTC)  # 08:30 in Rome (CEST, +2)
    assert next_local(time(9, 0), "Europe/Rome", now) == datetime(2030, 6, 1, 7, 0, tzinfo=UTC)
    assert next_local(time(8, 0), "Europe/Rome", now) == datetime(2030, 6, 2, 6, 0, tzinfo=UTC)
    assert next_local(time(9, 0), "Asia/Tokyo", now) == datetime(2030, 6, 2, 0, 0, tzinfo=UTC)


def test_next_local_follows_daylight_saving_time() -> None:
    # New York leaves DST on 2030-11-03: 09:00 is 13:00 UTC before, 14:00 UTC after.
    before = datetime(2030, 11, 2, 14, 0, tzinfo=UTC)
    assert next_local(time(9, 0), "America/New_York", before) == datetime(2030, 11, 3, 14, 0, tzinfo=UTC)
    # 02:30 does not exist on 2030-03-10 in New York (the gap); zoneinfo maps it to 03:30 EDT.
    gap_day = datetime(2030, 3, 10, 5, 0, tzinfo=UTC)
    assert next_local(time(2, 30), "America/New_York", gap_day) == datetime(2030, 3, 10, 7, 30, tzinfo=UTC)


def test_zones_with_the_same_instant_share_a_group() -> None:
    now = datetime(2030, 6, 1, 0, 0, tzinfo=UTC)
    groups = group_zones({"Europe/Paris": 2, "Europe/Rome": 1, "Asia/Tokyo": 1, "": 3}, time(9, 0),
                         "Europe/Berlin", now)
    assert groups == {
        datetime(2030, 6, 1, 7, 0, tzinfo=UTC): ["", "Europe/Paris", "Europe/Rome"],  # "" is Berlin
        datetime(2030, 6, 2, 0, 0, tzinfo=UTC): ["Asia/Tokyo"],
    }


@pytest.mark.parametrize("value", ["9:00", "24:00", "09:60", "0900", ""])
def test_a_bad_local_time_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        parse_local_time(value)
