"""POST /api/v1/prices: idempotent per symbol and date, every bad close a 422 naming it
with nothing stored, the permissions of daily closes; GET /api/v1/prices lists them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from agents_llm.experiments.prices import MAX_BARS
from agents_llm.models import DailyClose
from tests.api_support import ApiClient, assert_error_shape, client_for

pytestmark = pytest.mark.django_db

BARS = [{"date": "2026-11-20", "close": "180.25"}, {"date": "2026-11-23", "close": 182.5},
        {"date": "2026-11-24", "close": "179.0"}, {"date": "2026-11-25", "close": "181"}]


@pytest.fixture
def api(editor):
    return client_for(editor)


def stored() -> list[tuple[str, date, Decimal, str]]:
    return list(DailyClose.objects.order_by("symbol", "date").values_list("symbol", "date", "close", "source"))


def test_posting_closes_stores_them_and_posting_them_again_changes_nothing(api):
    first = api.post("/prices", {"symbol": "nvda", "bars": BARS})

    assert first.status_code == 200, first.content
    assert first.json() == {"symbol": "NVDA", "created": 4, "updated": 0, "outcomes_resolved": 0}
    rows = stored()
    assert rows == [("NVDA", date(2026, 11, 20), Decimal("180.25"), "api"), ("NVDA", date(2026, 11, 23), Decimal("182.5"), "api"),
                    ("NVDA", date(2026, 11, 24), Decimal("179"), "api"), ("NVDA", date(2026, 11, 25), Decimal("181"), "api")]
    stamps = list(DailyClose.objects.order_by("date").values_list("updated_at", flat=True))

    again = api.post("/prices", {"symbol": "NVDA", "bars": [{"date": "2026-11-23", "close": "182.500"}, *BARS[2:]]})

    assert again.json() == {"symbol": "NVDA", "created": 0, "updated": 0, "outcomes_resolved": 0}
    assert stored() == rows
    assert list(DailyClose.objects.order_by("date").values_list("updated_at", flat=True)) == stamps


def test_posting_another_close_for_a_stored_day_replaces_it_and_adds_new_days(api):
    api.post("/prices", {"symbol": "SPY", "bars": BARS[:2]})

    response = api.post("/prices", {"symbol": "SPY", "bars": [{"date": "2026-11-23", "close": "183"},
                                                              {"date": "2026-11-24", "close": "184"}]})

    assert response.json() == {"symbol": "SPY", "created": 1, "updated": 1, "outcomes_resolved": 0}
    assert [(d, c) for _, d, c, _ in stored()] == [
        (date(2026, 11, 20), Decimal("180.25")), (date(2026, 11, 23), Decimal("183")), (date(2026, 11, 24), Decimal("184"))]


def test_an_index_symbol_with_a_caret_is_a_symbol(api):
    response = api.post("/prices", {"symbol": "^GSPC", "bars": BARS[:1]})
    assert response.status_code == 200 and response.json()["symbol"] == "^GSPC"
    assert stored() == [("^GSPC", date(2026, 11, 20), Decimal("180.25"), "api")]


# Computed when the tests are collected: far enough ahead that a run crossing midnight
# still sees it in the future.
AHEAD = (timezone.localdate() + timedelta(days=30)).isoformat()


@pytest.mark.parametrize(("body", "loc"), [
    ({"symbol": "NVDA", "bars": [*BARS[:3], {"date": "2026-11-25", "close": "0"}]}, ["body", "bars", 3, "close"]),
    ({"symbol": "NVDA", "bars": [*BARS[:3], {"date": "2026-11-25", "close": "-1.5"}]}, ["body", "bars", 3, "close"]),
    ({"symbol": "NVDA", "bars": [*BARS[:3], {"date": "2026-11-25", "close": "abc"}]}, ["body", "bars", 3, "close"]),
    ({"symbol": "NVDA", "bars": [*BARS[:3], {"date": "2026-11-25", "close": "1.1234567"}]}, ["body", "bars", 3, "close"]),
    ({"symbol": "NVDA", "bars": [*BARS[:1], {"date": AHEAD, "close": "10"}]}, ["body", "bars", 1, "date"]),
    ({"symbol": "NVDA", "bars": [*BARS, {"date": "2026-11-23", "close": "10"}]}, ["body", "bars", 4, "date"]),
    ({"symbol": "NVDA", "bars": [*BARS[:1], {"date": "2026-13-01", "close": "10"}]}, ["body", "bars", 1, "date"]),
    ({"symbol": "NVDA", "bars": [{"close": "10"}]}, ["body", "bars", 0, "date"]),
    ({"symbol": "NV DA", "bars": BARS}, ["body", "symbol"]),
    ({"symbol": "$NVDA", "bars": BARS}, ["body", "symbol"]),
    ({"symbol": "", "bars": BARS}, ["body", "symbol"]),
    ({"symbol": "NVDA", "bars": []}, ["body", "bars"]),
    ({"bars": BARS}, ["body", "symbol"]),
])
def test_a_bad_close_is_a_422_naming_it_and_nothing_is_stored(api, body, loc):
    response = api.post("/prices", body)

    error = assert_error_shape(response, 422)
    assert error["errors"][0]["loc"] == loc, error
    assert not DailyClose.objects.exists()


def test_more_closes_than_the_limit_in_one_request_is_a_422_and_nothing_is_stored(api):
    start = date(2020, 1, 1)
    bars = [{"date": (start + timedelta(days=n)).isoformat(), "close": "1"} for n in range(MAX_BARS + 1)]

    error = assert_error_shape(api.post("/prices", {"symbol": "NVDA", "bars": bars}), 422)

    assert error["errors"][0]["loc"] == ["body", "bars"]
    assert not DailyClose.objects.exists()
    assert api.post("/prices", {"symbol": "NVDA", "bars": bars[:MAX_BARS]}).json()["created"] == MAX_BARS


def test_posting_closes_needs_add_and_change_of_daily_closes_and_reading_them_view(reader):
    user = User.objects.create_user("poster", "poster@example.com", "poster-pass-123")
    user.user_permissions.add(Permission.objects.get(codename="add_dailyclose"))
    poster = client_for(user)

    assert assert_error_shape(poster.post("/prices", {"symbol": "NVDA", "bars": BARS}), 403)
    assert "change_dailyclose" in poster.post("/prices", {"symbol": "NVDA", "bars": BARS}).json()["detail"]
    assert_error_shape(client_for(reader).post("/prices", {"symbol": "NVDA", "bars": BARS}), 403)
    assert_error_shape(ApiClient().post("/prices", {"symbol": "NVDA", "bars": BARS}), 401)
    assert not DailyClose.objects.exists()
    assert_error_shape(poster.get("/prices"), 403)
    user.user_permissions.add(Permission.objects.get(codename="change_dailyclose"))
    user = User.objects.get(pk=user.pk)
    assert client_for(user).post("/prices", {"symbol": "NVDA", "bars": BARS}).status_code == 200
    assert len(stored()) == 4
    assert client_for(reader).get("/prices").json()["count"] == 4


def test_the_list_filters_by_symbol_and_dates_and_pages(api):
    api.post("/prices", {"symbol": "NVDA", "bars": BARS})
    api.post("/prices", {"symbol": "SPY", "bars": BARS[:2]})

    body = api.get("/prices", symbol="nvda", start="2026-11-23", end="2026-11-24").json()

    assert body["count"] == 2
    assert [(i["symbol"], i["date"], i["close"], i["source"]) for i in body["items"]] == [
        ("NVDA", "2026-11-23", "182.5", "api"), ("NVDA", "2026-11-24", "179", "api")]
    page = api.get("/prices", limit=2, offset=4).json()
    assert page["count"] == 6 and [(i["symbol"], i["date"]) for i in page["items"]] == [
        ("SPY", "2026-11-20"), ("SPY", "2026-11-23")]
