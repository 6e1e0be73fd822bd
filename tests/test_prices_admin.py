"""The admin's daily closes: uploading a CSV (a symbol and date,close rows, or
symbol,date,close rows; a bad line named and nothing stored), the "Missing closes" page
grouped by symbol with links to the analyses, and the analysis page's Outcome block."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents_llm.models import DailyClose, Outcome
from tests.test_outcomes import succeeded_analysis

pytestmark = pytest.mark.django_db

UPLOAD = reverse("admin:agents_llm_dailyclose_upload")
MISSING = reverse("admin:agents_llm_dailyclose_missing")


def upload(client: Client, content: str, symbol: str = ""):
    return client.post(UPLOAD, {"symbol": symbol, "file": SimpleUploadedFile("closes.csv", content.encode())})


def stored() -> list[tuple[str, date, Decimal, str]]:
    return list(DailyClose.objects.order_by("symbol", "date").values_list("symbol", "date", "close", "source"))


def test_uploading_date_close_rows_for_a_symbol_stores_them_and_resolves_the_outcome(admin_client):
    analysis = succeeded_analysis(holding_days=1, rating="Overweight")  # 2026-11-20 -> 2026-11-23
    DailyClose.objects.create(symbol="SPY", date=date(2026, 11, 20), close=Decimal("500"))
    DailyClose.objects.create(symbol="SPY", date=date(2026, 11, 23), close=Decimal("490"))

    response = upload(admin_client, "date,close\n2026-11-20,100.5\n\n2026-11-23,102.75\n", symbol="nvda")

    assert response.status_code == 302 and response.url == reverse("admin:agents_llm_dailyclose_changelist")
    assert stored()[:2] == [("NVDA", date(2026, 11, 20), Decimal("100.5"), "upload"),
                            ("NVDA", date(2026, 11, 23), Decimal("102.75"), "upload")]
    outcome = Outcome.objects.get(analysis=analysis)
    alpha = float(Decimal("102.75") / Decimal("100.5") - 1) - float(Decimal("490") / Decimal("500") - 1)
    assert outcome.status == "resolved" and outcome.alpha == pytest.approx(alpha, rel=1e-12)
    page = admin_client.get(response.url).content.decode()
    assert "NVDA: 2 new, 0 replaced" in page and "1 outcome(s) resolved" in page

    # The analysis page shows it.
    detail = admin_client.get(reverse("admin:agents_llm_analysis_change", args=[analysis.pk])).content.decode()
    assert 'id="analysis-outcome"' in detail and "2026-11-20 → 2026-11-23" in detail
    assert f"{alpha * 100:.1f} %" in detail and "100.5 → 102.75" in detail and "a hit" in detail


def test_uploading_symbol_date_close_rows_stores_each_symbol(admin_client):
    response = upload(admin_client, "Symbol,Date,Close\nNVDA,2026-11-20,180\nspy,2026-11-20,660.5\n^GSPC,2026-11-20,6600\n")

    assert response.status_code == 302
    assert stored() == [("NVDA", date(2026, 11, 20), Decimal("180"), "upload"),
                        ("SPY", date(2026, 11, 20), Decimal("660.5"), "upload"),
                        ("^GSPC", date(2026, 11, 20), Decimal("6600"), "upload")]


def test_a_bad_file_names_its_lines_and_stores_nothing(admin_client):
    DailyClose.objects.create(symbol="NVDA", date=date(2026, 11, 19), close=Decimal("170"))
    content = ("symbol,date,close\n"
               "NVDA,2026-11-20,180\n"      # line 2: good
               "NVDA,2026-11-23,-4\n"       # line 3: not above 0
               "NVDA,23/11/2026,181\n"      # line 4: not a date
               "SP Y,2026-11-20,660\n"      # line 5: not a symbol
               "SPY,2026-11-20\n"           # line 6: two values
               "NVDA,2026-11-20,182\n"      # line 7: a date twice
               "SPY,2026-11-24,abc\n")      # line 8: not a number

    response = upload(admin_client, content)

    assert response.status_code == 200
    problems = [str(p) for p in response.context["problems"]]
    for line, words in [(3, "more than 0"), (4, "not a date"), (5, "not a symbol"), (6, "expected symbol,date,close"),
                        (7, "given twice"), (8, "not a number")]:
        assert any(p.startswith(f"Line {line}:") and words in p for p in problems), (line, problems)
    assert not any(p.startswith("Line 2:") for p in problems)
    assert "Nothing was stored" in response.content.decode()
    assert stored() == [("NVDA", date(2026, 11, 19), Decimal("170"), "api")]


def test_a_file_of_dates_for_a_bad_symbol_or_not_utf8_is_refused(admin_client):
    assert "is not a symbol" in " ".join(upload(admin_client, "2026-11-20,1\n", symbol="A B").context["problems"])
    bad = admin_client.post(UPLOAD, {"symbol": "NVDA", "file": SimpleUploadedFile("c.csv", b"\xff\xfe2026")})
    assert bad.context["problems"] == ["The file is not UTF-8 text."]
    assert not DailyClose.objects.exists()


def test_uploading_needs_the_add_and_change_permissions_of_closes(client, reader):
    client.force_login(reader)
    assert client.get(reverse("admin:agents_llm_dailyclose_changelist")).status_code == 200
    assert upload(client, "2026-11-20,1\n", symbol="NVDA").status_code == 403
    assert not DailyClose.objects.exists()


def test_the_missing_closes_page_groups_them_by_symbol_and_links_the_analyses(admin_client):
    first = succeeded_analysis(holding_days=1)
    second = succeeded_analysis(ticker="AMD", holding_days=1)
    DailyClose.objects.create(symbol="NVDA", date=date(2026, 11, 20), close=Decimal("1"))
    from agents_llm.experiments.outcomes import outcomes_resolve_pending

    outcomes_resolve_pending()

    response = admin_client.get(MISSING)

    page = response.content.decode()
    groups = {g["symbol"]: [(d["date"], [a["id"] for a in d["analyses"]]) for d in g["dates"]]
              for g in response.context["symbols"]}
    assert groups == {
        "NVDA": [(date(2026, 11, 23), [first.pk])],
        "AMD": [(date(2026, 11, 20), [second.pk]), (date(2026, 11, 23), [second.pk])],
        "SPY": [(date(2026, 11, 20), [first.pk, second.pk]), (date(2026, 11, 23), [first.pk, second.pk])],
    }
    assert reverse("admin:agents_llm_analysis_change", args=[second.pk]) in page
    assert 'id="missing-SPY"' in page
    # The analysis page says why it is pending and links here.
    detail = admin_client.get(reverse("admin:agents_llm_analysis_change", args=[first.pk])).content.decode()
    assert "Pending: Missing closes: NVDA 2026-11-23, SPY 2026-11-20, SPY 2026-11-23." in detail and MISSING in detail
