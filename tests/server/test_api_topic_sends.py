"""/v1/sends to an FCM topic or condition: validated, accepted as one delivery, listed without a device."""

from __future__ import annotations

from pushgate.planner.fanout import fan_out
from pushgate.planner.jobs import deliver_queue
from pushgate.registry import DeliveryStatus, Outcome, record_outcomes
from pushgate.registry.chunks import load_topic_target
from pushgate.registry.constants import TOPIC_DEVICE_ID
from pushgate.registry.models import Send
from tests.server.api_helpers import Api, Secrets, Tenant, fcm_token
from tests.server.test_api_sends import HELLO, send, stored

CONDITION = "'deals' in topics && !('muted' in topics)"


async def test_topic_and_condition_targets_are_validated_and_name_the_field(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    await api.credentials(shop, "fcm", provider_secrets.fcm)
    six = " || ".join(f"'t{i}' in topics" for i in range(6))
    cases = [
        ({"topic": "has space"}, "body.target.topic"),
        ({"topic": "x" * 901}, "body.target.topic"),
        ({"topic": ""}, "body.target.topic"),
        ({"condition": "'a' in topics &&"}, "body.target.condition"),
        ({"condition": "'a' in topics and 'b' in topics"}, "body.target.condition"),
        ({"condition": six}, "body.target.condition"),
        ({"condition": "'a' in topics", "users": ["alice"]}, "body.target.users"),
        ({"topic": "deals", "condition": "'a' in topics"}, "body.target.topic"),
        ({"topic": "deals", "tags": ["vip"]}, "body.target.tags"),
    ]
    for target, field in cases:
        answer = await api.client.post("/v1/sends", json={"notification": HELLO, "target": target},
                                       headers=shop.headers)
        assert answer.status_code == 422, (target, answer.text)
        assert answer.json()["error"]["field"] == field, (target, answer.json())
    assert stored(api) == (0, 0)
    # With a device audience, topic is still the opt-out filter it always was.
    await api.device(shop, provider="fcm", token=fcm_token(1))
    assert (await send(api, shop, {"all": True, "topic": "deals"}))["targeted"] == 1


async def test_a_topic_target_needs_fcm_credentials(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    await api.credentials(shop, "apns", provider_secrets.apns)
    refused = await send(api, shop, {"topic": "deals"}, status=422)
    assert refused["error"]["field"] == "body.target.topic"
    assert "FCM credentials" in refused["error"]["message"]
    refused = await send(api, shop, {"condition": CONDITION}, status=422)
    assert refused["error"]["field"] == "body.target.condition"
    assert stored(api) == (0, 0)


async def test_a_topic_send_is_one_fcm_delivery_listed_without_a_device(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    await api.credentials(shop, "fcm", provider_secrets.fcm)
    for i in range(3):  # devices of the app are not the topic's audience: FCM's subscribers are
        await api.device(shop, provider="fcm", token=fcm_token(i))
    accepted = await send(api, shop, {"topic": "/topics/deals"}, headers={"Idempotency-Key": "deals-1"})
    assert (accepted["status"], accepted["targeted"]) == ("queued", 1)
    again = await send(api, shop, {"topic": "/topics/deals"}, headers={"Idempotency-Key": "deals-1"})
    assert again["id"] == accepted["id"]
    with api.db.session(write=False) as session:
        row = session.get(Send, accepted["id"])
        assert row is not None
        assert row.target == {"topic": "deals"}  # stored without the SDKs' /topics/ prefix

    result = fan_out(api.db, api.queue, accepted["id"])
    assert (result.jobs, result.targeted, result.status) == (1, 1, "sending")
    job = api.queue.get(f"{accepted['id']}:0")
    assert job is not None
    assert job.queue == deliver_queue("fcm", direct=True)
    assert job.payload["device_ids"] == [TOPIC_DEVICE_ID]
    assert job.size == 1
    assert load_topic_target(api.db, accepted["id"]) == ("topic", "deals")

    with api.db.session() as session:
        record_outcomes(session, accepted["id"], "fcm",
                        [Outcome(TOPIC_DEVICE_ID, DeliveryStatus.SENT, message_id="projects/p/messages/1")])
    assert load_topic_target(api.db, accepted["id"]) is None  # recorded: a re-run sends nothing
    status = (await api.client.get(f"/v1/sends/{accepted['id']}", headers=shop.headers)).json()
    assert (status["status"], status["targeted"], status["sent"], status["pending"]) == ("done", 1, 1, 0)
    page = (await api.client.get(f"/v1/sends/{accepted['id']}/deliveries", headers=shop.headers)).json()
    [delivery] = page["items"]
    assert delivery["device_id"] is None
    assert (delivery["topic"], delivery["condition"]) == ("deals", None)
    assert (delivery["status"], delivery["message_id"]) == ("sent", "projects/p/messages/1")


async def test_a_condition_send_is_accepted_and_counted_once(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    await api.credentials(shop, "fcm", provider_secrets.fcm)
    accepted = await send(api, shop, {"condition": CONDITION})
    assert accepted["targeted"] == 1
    fan_out(api.db, api.queue, accepted["id"])
    assert load_topic_target(api.db, accepted["id"]) == ("condition", CONDITION)


async def test_topic_operations_are_validated_and_stored_with_their_job(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    no_fcm = await api.client.post("/v1/topics/deals/subscribe", json={"tokens": ["t"]}, headers=shop.headers)
    assert (no_fcm.status_code, no_fcm.json()["error"]["field"]) == (422, "path.topic")
    await api.credentials(shop, "fcm", provider_secrets.fcm)
    for path, body, field in (
        ("/v1/topics/has%20space/subscribe", {"tokens": ["t"]}, "path.topic"),
        ("/v1/topics/deals/subscribe", {"tokens": ["t"], "users": ["u"]}, "body.tokens"),
        ("/v1/topics/deals/unsubscribe", {"users": []}, "body.users"),
    ):
        answer = await api.client.post(path, json=body, headers=shop.headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == field, answer.json()
    answer = await api.client.post("/v1/topics/deals/subscribe", json={"tokens": ["a", "b", "a"]},
                                   headers=shop.headers)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert (accepted["requested"], accepted["status"]) == (2, "queued")
    job = api.queue.get(f"topic:{accepted['id']}")
    assert job is not None
    assert job.queue == "topics"
    shown = (await api.client.get(f"/v1/topics/operations/{accepted['id']}", headers=shop.headers)).json()
    assert (shown["topic"], shown["action"], shown["status"]) == ("deals", "subscribe", "queued")
    other = await api.tenant("other")
    hidden = await api.client.get(f"/v1/topics/operations/{accepted['id']}", headers=other.headers)
    assert hidden.status_code == 404


async def test_a_cancelled_topic_send_records_its_one_delivery_cancelled(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    await api.credentials(shop, "fcm", provider_secrets.fcm)
    accepted = await send(api, shop, {"topic": "deals"})
    fan_out(api.db, api.queue, accepted["id"])
    answer = await api.client.post(f"/v1/sends/{accepted['id']}/cancel", headers=shop.headers)
    assert answer.status_code == 200, answer.text
    assert load_topic_target(api.db, accepted["id"]) is None  # what the delivery job loads: nothing to send
    status = (await api.client.get(f"/v1/sends/{accepted['id']}", headers=shop.headers)).json()
    assert (status["status"], status["cancelled"], status["pending"]) == ("cancelled", 1, 0)
    page = await api.client.get(f"/v1/sends/{accepted['id']}/deliveries", headers=shop.headers)
    [delivery] = page.json()["items"]
    assert (delivery["topic"], delivery["status"]) == ("deals", "cancelled")


async def test_a_topic_message_is_held_to_fcms_topic_size_limit(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    await api.credentials(shop, "fcm", provider_secrets.fcm)
    three_kb = {"title": "Sale", "body": "x" * 3000}  # fits a message to a token (4096), not a topic (2048)
    await send(api, shop, {"all": True}, notification=three_kb)
    refused = await send(api, shop, {"topic": "deals"}, notification=three_kb, status=413)
    assert (refused["error"]["provider"], refused["error"]["limit"]) == ("fcm", 2048)
    await send(api, shop, {"condition": CONDITION}, notification=three_kb, status=413)
