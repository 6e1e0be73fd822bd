"""Admin for daily closes: the list (search by symbol, filter by source), "Upload closes
(CSV)" and "Missing closes" (what pending outcomes wait for). Closes are written by the
API, the upload and the live fetch only (prices.prices_store), so that the outcomes
that use them are recomputed: they are not edited here."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from agents_llm.experiments.models import CloseSource, DailyClose
from agents_llm.experiments.prices import (
    MAX_BARS,
    Bar,
    PricesInvalid,
    closes_missing,
    parse_close,
    prices_clean,
    prices_store,
    symbol_problem,
)
from tradingagents import formatting

UPLOAD_PERMS = ("agents_llm.add_dailyclose", "agents_llm.change_dailyclose")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_ROWS = 50_000


class UploadForm(forms.Form):
    symbol = forms.CharField(
        max_length=16, required=False,
        help_text="With a symbol, the file's rows are date,close; without one, symbol,date,close. "
                  "A header line is allowed. Dates as YYYY-MM-DD.",
    )
    file = forms.FileField(help_text=f"CSV, at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; "
                                     f"at most {MAX_BARS:,} closes per symbol.")


class UploadInvalid(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_upload(data: bytes, symbol: str) -> dict[str, tuple[list[Bar], list[int]]]:
    """The file's closes per symbol, with the line each came from; UploadInvalid naming
    every bad line (and nothing is stored then)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadInvalid(["The file is not UTF-8 text."]) from None
    symbol = symbol.strip().upper()
    if symbol and (problem := symbol_problem(symbol)):
        raise UploadInvalid([f"Symbol: {problem}"])
    columns = ["date", "close"] if symbol else ["symbol", "date", "close"]
    errors: list[str] = []
    found: dict[str, tuple[list[Bar], list[int]]] = defaultdict(lambda: ([], []))
    rows = 0
    for line, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if rows == 0 and [c.lower() for c in cells] == columns:
            continue  # the header
        rows += 1
        if rows > MAX_UPLOAD_ROWS:
            errors.append(f"More than {MAX_UPLOAD_ROWS:,} rows: split the file.")
            break
        if len(cells) != len(columns):
            errors.append(f"Line {line}: {len(cells)} values; expected {','.join(columns)}.")
            continue
        row = dict(zip(columns, cells, strict=True))
        row_symbol = symbol or row["symbol"].upper()
        if not symbol and (problem := symbol_problem(row_symbol)):
            errors.append(f"Line {line}: {problem}")
            continue
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            errors.append(f"Line {line}: '{row['date'][:20]}' is not a date (YYYY-MM-DD).")
            continue
        close = parse_close(row["close"])
        if close is None:
            errors.append(f"Line {line}: '{row['close'][:20]}' is not a number.")
            continue
        bars, lines = found[row_symbol]
        bars.append(Bar(date=day, close=close))
        lines.append(line)
    if not errors and not found:
        errors.append("The file has no closes.")
    for row_symbol, (bars, lines) in found.items():
        try:
            prices_clean(row_symbol, bars)
        except PricesInvalid as exc:
            for loc, message in exc.errors:
                where = f"Line {lines[loc[1]]}" if len(loc) > 1 and isinstance(loc[1], int) else row_symbol
                errors.append(f"{where}: {message}")
    if errors:
        raise UploadInvalid(errors)
    return dict(found)


@admin.register(DailyClose)
class DailyCloseAdmin(admin.ModelAdmin):
    list_display = ("symbol", "date", "close_display", "source", "updated")
    list_filter = ("source",)
    search_fields = ("symbol",)
    date_hierarchy = "date"
    ordering = ("symbol", "-date")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # "Upload closes (CSV)" adds them

    def has_change_permission(self, request: HttpRequest, obj: DailyClose | None = None) -> bool:
        return False  # posted or uploaded again: the outcomes that used it are recomputed

    def has_delete_permission(self, request: HttpRequest, obj: DailyClose | None = None) -> bool:
        return False  # an outcome's closes stay what it was computed from

    def may_upload(self, request: HttpRequest) -> bool:
        return request.user.has_perms(UPLOAD_PERMS)

    @admin.display(description="Close", ordering="close")
    def close_display(self, row: DailyClose) -> str:
        return format(row.close.normalize(), "f")

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, row: DailyClose) -> str:
        return formatting.when(row.updated_at)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "may_upload": self.may_upload(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("upload/", view(self.upload_view), name="agents_llm_dailyclose_upload"),
            path("missing/", view(self.missing_view), name="agents_llm_dailyclose_missing"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta,
                "may_upload": self.may_upload(request)}

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.may_upload(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_UPLOAD_BYTES:
                problems = [f"The file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."]
            else:
                try:
                    found = parse_upload(upload.read(), form.cleaned_data["symbol"])
                except UploadInvalid as exc:
                    problems = exc.errors
                else:
                    with transaction.atomic():
                        results = [prices_store(symbol=s, bars=bars, source=CloseSource.UPLOAD)
                                   for s, (bars, _) in sorted(found.items())]
                    summary = "; ".join(
                        f"{r['symbol']}: {r['created']} new, {r['updated']} replaced" for r in results)
                    resolved = sum(r["outcomes_resolved"] for r in results)
                    self.message_user(request, f"Closes stored ({summary}); {resolved} outcome(s) resolved.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:agents_llm_dailyclose_changelist"))
        return TemplateResponse(request, "admin/agents_llm/dailyclose/upload.html", {
            **self._context(request, "Upload closes (CSV)"), "form": form, "problems": problems[:50],
            "more_problems": max(0, len(problems) - 50),
        })

    def missing_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        by_symbol: dict[str, dict[date, list[int]]] = defaultdict(lambda: defaultdict(list))
        waiting = []
        for row in closes_missing():
            if not row["missing"]:
                waiting.append(row)
            for item in row["missing"]:
                by_symbol[item["symbol"]][item["date"]].append(row["analysis"])
        change = "admin:agents_llm_analysis_change"
        symbols = [
            {"symbol": symbol, "dates": [
                {"date": day, "analyses": [{"id": a, "url": reverse(change, args=[a])} for a in ids]}
                for day, ids in sorted(days.items())
            ]}
            for symbol, days in sorted(by_symbol.items())
        ]
        for row in waiting:
            row["url"] = reverse(change, args=[row["analysis"]])
        return TemplateResponse(request, "admin/agents_llm/dailyclose/missing.html", {
            **self._context(request, "Missing closes"), "symbols": symbols, "waiting": waiting,
        })
