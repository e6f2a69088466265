"""The notification model, results, and size fitting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pushgate import BatchResult, Notification, PayloadTooLarge, Status, TokenResult
from pushgate.providers._payload_fit import fit, trim_utf8


def test_loc_args_need_their_key() -> None:
    with pytest.raises(ValidationError, match="body_loc_args needs body_loc_key"):
        Notification(body_loc_args=["x"])


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="titel"):
        Notification(titel="typo")  # type: ignore[call-arg]  # the typo is the test


def test_expiration_wins_over_ttl_and_naive_is_utc() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    n = Notification(ttl=10, expiration=datetime(2026, 1, 1, 0, 1))
    assert n.ttl_seconds(now) == 60
    assert n.expires_at(now) == int((now + timedelta(minutes=1)).timestamp())
    assert Notification(ttl=5).expires_at(now) == int(now.timestamp()) + 5
    assert Notification().ttl_seconds(now) is None


def test_batch_result_views() -> None:
    result = BatchResult(
        [
            TokenResult("a", Status.SENT, message_id="1"),
            TokenResult("b", Status.DEAD, reason="Unregistered"),
            TokenResult("c", Status.RETRY, reason="TooManyRequests"),
            TokenResult("d", Status.FAILED, reason="BadTopic"),
        ]
    )
    assert result.successes == ["a"]
    assert result.failures == ["b", "c", "d"]
    assert result.dead_tokens == ["b"]
    assert result.retryable == ["c"]
    assert result.token_errors == {"b": "Unregistered", "c": "TooManyRequests", "d": "BadTopic"}
    assert not result.ok
    assert "dead=1" in repr(result)


@given(st.text(), st.integers(min_value=0, max_value=400))
def test_trim_utf8_is_a_prefix_that_fits(text: str, limit: int) -> None:
    cut = trim_utf8(text, limit)
    assert text.startswith(cut)
    assert len(cut.encode()) <= limit
    # maximal: one more character would not fit
    if cut != text:
        assert len(text[: len(cut) + 1].encode()) > limit


@given(st.text(min_size=1, max_size=3000), st.integers(min_value=60, max_value=2000))
def test_fit_trims_to_the_limit_when_allowed(body: str, limit: int) -> None:
    import json

    def build(text: str | None) -> bytes:
        return json.dumps({"t": "title", "b": text}, ensure_ascii=False).encode()

    payload = fit(build, body, provider="x", limit=limit, max_size=limit)
    assert len(payload) <= limit
    assert json.loads(payload)["b"].rstrip("…") in body


def test_fit_raises_without_opt_in() -> None:
    with pytest.raises(PayloadTooLarge, match=r"x payload is .* the limit is 10"):
        fit(lambda b: (b or "").encode(), "a" * 11, provider="x", limit=10, max_size=None)
