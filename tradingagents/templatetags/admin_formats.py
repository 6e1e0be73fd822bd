"""`{% load admin_formats %}`: tradingagents.formatting's formats as template filters."""

from __future__ import annotations

from django import template

from tradingagents import formatting

register = template.Library()

register.filter("money", formatting.money)
register.filter("count", formatting.count)
register.filter("when", formatting.when)
register.filter("percent", formatting.percent)
