"""Redis is a cache for token lookups: when it goes away, token-authenticated requests
are answered from the database, and when it comes back it is used again."""

from __future__ import annotations

import pytest

from tests.api_support import ApiClient, assert_error_shape, client_for
from tradingagents.models import APIToken
from tradingagents.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db(transaction=True)


def test_token_requests_keep_working_while_redis_is_down_and_after_it_returns(cache_on_redis, reader, agent):
    client = client_for(reader)
    assert client.get("/agents").status_code == 200  # the lookup is now cached

    cache_on_redis.stop()
    during = [client.get("/agents") for _ in range(5)]
    _, fresh_token = api_token_create(user=reader, name="made-while-down")
    fresh = ApiClient(fresh_token).get(f"/agents/{agent.pk}")

    assert [r.status_code for r in during] == [200] * 5
    assert during[-1].json()["items"][0]["name"] == "trader"
    assert fresh.status_code == 200
    assert APIToken.objects.filter(name="made-while-down", last_used_at__isnull=False).exists()

    cache_on_redis.start()
    from tradingagents import cache

    cache._down_until = 0.0  # skip the retry window instead of sleeping through it
    assert client.get("/agents").status_code == 200


def test_a_token_revoked_while_redis_is_down_is_refused(cache_on_redis, reader):
    _, token = api_token_create(user=reader, name="to-revoke")
    client = ApiClient(token)
    cache_on_redis.stop()
    assert client.get("/agents").status_code == 200

    api_token_revoke(token=APIToken.objects.get(name="to-revoke"))

    assert_error_shape(client.get("/agents"), 401)
