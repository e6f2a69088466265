"""Response models are validated from the registry's views: the two cannot drift apart."""

from __future__ import annotations

from dataclasses import fields

from pushgate.registry import DeviceView, SendStatusView
from pushgate.server.schemas import DeviceOut, SendStatusOut


def test_response_models_show_their_views_fields_except_the_owning_app() -> None:
    # app_id is for the ownership check (404), never shown.
    assert set(SendStatusOut.model_fields) == {f.name for f in fields(SendStatusView)} - {"app_id"}
    assert set(DeviceOut.model_fields) == {f.name for f in fields(DeviceView)} - {"app_id"}
    assert SendStatusOut.model_config.get("from_attributes") is True
    assert DeviceOut.model_config.get("from_attributes") is True
