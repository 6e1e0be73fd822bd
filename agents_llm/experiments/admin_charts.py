"""The experiment page's two charts as inline SVG drawn on the server (no script, no
chart library): cost against decision alpha, one point per analysis with an outcome,
coloured by arm; and each arm's decision alpha per dollar with its 95% interval."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from tradingagents import formatting

# Colour-blind-friendly (Okabe–Ito), then Tableau's for more arms.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8c564b", "#7f7f7f"]
WIDTH = 720
AXIS_COLOUR = "#777"
GRID_COLOUR = "#e3e3e3"


def arm_colours(names: Iterable[str]) -> dict[str, str]:
    return {name: PALETTE[n % len(PALETTE)] for n, name in enumerate(names)}


def signed_percent(value: float | None) -> str:
    return formatting.MISSING if value is None else ("+" if value > 0 else "") + formatting.percent(value)


def per_usd(value: float | None) -> str:
    """A decision alpha per USD spent, as percentage points per dollar."""
    return formatting.MISSING if value is None else f"{signed_percent(value)} per $"


@dataclass(frozen=True)
class Scale:
    """A linear map of [lo, hi] onto pixels [start, end], with round ticks."""

    lo: float
    hi: float
    start: float
    end: float

    @classmethod
    def over(cls, values: Sequence[float], start: float, end: float, *, include_zero: bool = True) -> Scale:
        lo, hi = min(values), max(values)
        if include_zero:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo < 1e-12:
            pad = abs(hi) * 0.5 or 0.01
            lo, hi = lo - pad, hi + pad
        step = nice_step((hi - lo) / 5)
        return cls(math.floor(lo / step) * step, math.ceil(hi / step) * step, start, end)

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[float]:
        step = nice_step((self.hi - self.lo) / 5)
        count = round((self.hi - self.lo) / step)
        return [self.lo + i * step for i in range(count + 1)]


def nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least `raw`."""
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))


def _html(template: str, **values: Any) -> SafeString:
    """format_html with coordinates to a tenth of a pixel (it escapes every value to a
    string before formatting, so format specs cannot be used)."""
    return format_html(template, **{k: f"{v:.1f}" if isinstance(v, float) else v for k, v in values.items()})


def _svg(height: int, label: str, body: str, **attrs: str) -> SafeString:
    extra = format_html_join("", ' {}="{}"', attrs.items())
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{label}" class="experiment-chart"{extra}><title>{label}</title>{body}</svg>',
        w=WIDTH, h=height, label=label, extra=extra, body=mark_safe(body),
    )


def _x_axis(scale: Scale, y: float, top: float, fmt: Callable[[float], str], label: str) -> str:
    parts = []
    for tick in scale.ticks():
        x = scale(tick)
        parts.append(_html(
            '<line x1="{x}" x2="{x}" y1="{top}" y2="{y}" stroke="{grid}"/>'
            '<text x="{x}" y="{ty}" text-anchor="middle" class="tick">{text}</text>',
            x=x, top=top, y=y, ty=y + 16, grid=GRID_COLOUR, text=fmt(tick),
        ))
    parts.append(_html(
        '<line x1="{a}" x2="{b}" y1="{y}" y2="{y}" stroke="{c}"/>'
        '<text x="{mid}" y="{ly}" text-anchor="middle" class="axis-label">{label}</text>',
        a=scale.start, b=scale.end, y=y, c=AXIS_COLOUR, mid=(scale.start + scale.end) / 2, ly=y + 36, label=label,
    ))
    return "".join(parts)


def _zero(scale: Scale, other_start: float, other_end: float, *, vertical: bool) -> str:
    if not scale.lo < 0 < scale.hi:
        return ""
    z = scale(0.0)
    if vertical:
        return _html('<line x1="{z}" x2="{z}" y1="{a}" y2="{b}" stroke="{c}" '
                           'stroke-dasharray="4 3" class="zero"/>', z=z, a=other_start, b=other_end, c=AXIS_COLOUR)
    return _html('<line x1="{a}" x2="{b}" y1="{z}" y2="{z}" stroke="{c}" '
                       'stroke-dasharray="4 3" class="zero"/>', z=z, a=other_start, b=other_end, c=AXIS_COLOUR)


def _legend(colours: dict[str, str], x: float, y: float) -> str:
    parts = []
    for name, colour in colours.items():
        parts.append(_html(
            '<g class="legend-item" data-arm="{name}"><circle cx="{cx}" cy="{cy}" r="5" fill="{colour}"/>'
            '<text x="{tx}" y="{ty}">{name}</text></g>',
            name=name, cx=x + 5, cy=y, colour=colour, tx=x + 14, ty=y + 4,
        ))
        x += 30 + 7 * len(name)
    return "".join(parts)


def cost_alpha_scatter(points: list[dict[str, Any]], colours: dict[str, str],
                       url: Callable[[int], str]) -> SafeString | None:
    """Cost (x) against decision alpha (y), one circle per analysis with an outcome, each
    linking to its analysis; None when no analysis has an outcome yet."""
    drawn = [p for p in points if p.get("decision_alpha") is not None and p.get("cost_usd") is not None]
    if not drawn:
        return None
    height, left, right, top, bottom = 400, 80, 40, 44, 56
    xs = Scale.over([float(p["cost_usd"]) for p in drawn], left, WIDTH - right)
    ys = Scale.over([float(p["decision_alpha"]) for p in drawn], height - bottom, top)
    parts = [_legend(colours, left, 16)]
    for tick in ys.ticks():
        parts.append(_html(
            '<line x1="{a}" x2="{b}" y1="{y}" y2="{y}" stroke="{grid}"/>'
            '<text x="{tx}" y="{ty}" text-anchor="end" class="tick">{text}</text>',
            a=left, b=WIDTH - right, y=ys(tick), grid=GRID_COLOUR, tx=left - 6, ty=ys(tick) + 4,
            text=signed_percent(tick),
        ))
    parts.append(_x_axis(xs, height - bottom, top, formatting.money, "Cost of the analysis (USD)"))
    parts.append(_html(
        '<line x1="{x}" x2="{x}" y1="{a}" y2="{b}" stroke="{c}"/>'
        '<text transform="translate(16 {mid}) rotate(-90)" text-anchor="middle" class="axis-label">'
        'Decision alpha</text>',
        x=left, a=top, b=height - bottom, c=AXIS_COLOUR, mid=(top + height - bottom) / 2,
    ))
    parts.append(_zero(ys, left, WIDTH - right, vertical=False))
    for p in drawn:
        parts.append(_html(
            '<a href="{href}"><circle class="scatter-point" data-arm="{arm}" data-analysis="{id}" cx="{cx}" '
            'cy="{cy}" r="5.5" fill="{colour}" fill-opacity="0.85" stroke="#fff">'
            '<title>{arm}: {ticker} {date}, {cost}, decision alpha {alpha}{rating}</title></circle></a>',
            href=url(p["analysis"]), arm=p["arm"], id=p["analysis"], cx=xs(float(p["cost_usd"])),
            cy=ys(float(p["decision_alpha"])), colour=colours.get(p["arm"], PALETTE[-1]), ticker=p["ticker"],
            date=p["trade_date"], cost=formatting.money(p["cost_usd"]), alpha=signed_percent(p["decision_alpha"]),
            rating=f" ({p['rating']})" if p.get("rating") else "",
        ))
    return _svg(height, "Cost against decision alpha, one point per analysis with an outcome", "".join(parts),
                id="scatter")


def alpha_per_usd_chart(arms: list[dict[str, Any]], colours: dict[str, str]) -> SafeString | None:
    """Each arm's decision alpha per dollar: a point, and its 95% interval as an error
    bar; an arm without outcomes says so. None when no arm has a value."""
    values: list[float] = []
    for arm in arms:
        if arm.get("decision_alpha_per_usd") is not None:
            values.append(float(arm["decision_alpha_per_usd"]))
            values.extend(float(v) for v in (arm.get("decision_alpha_per_usd_ci") or []) if v is not None)
    if not values:
        return None
    row, left, right, top = 36, 160, 40, 16
    height = top + row * len(arms) + 50
    xs = Scale.over(values, left, WIDTH - right)
    bottom = top + row * len(arms)
    parts = [_x_axis(xs, bottom, top, lambda v: signed_percent(v), "Decision alpha per USD spent"),
             _zero(xs, top, bottom, vertical=True)]
    for n, arm in enumerate(arms):
        y = top + row * n + row / 2
        colour = colours.get(arm["name"], PALETTE[-1])
        parts.append(_html('<text x="{x}" y="{y}" text-anchor="end" class="arm-name">{name}</text>',
                                 x=left - 10, y=y + 4, name=arm["name"]))
        value = arm.get("decision_alpha_per_usd")
        if value is None:
            parts.append(_html('<text x="{x}" y="{y}" class="tick">no outcome yet</text>',
                                     x=left + 6, y=y + 4))
            continue
        ci = arm.get("decision_alpha_per_usd_ci")
        if ci and None not in ci:
            a, b = xs(float(ci[0])), xs(float(ci[1]))
            parts.append(_html(
                '<g class="error-bar" data-arm="{name}"><line x1="{a}" x2="{b}" y1="{y}" y2="{y}" '
                'stroke="{c}" stroke-width="2"/><line x1="{a}" x2="{a}" y1="{y1}" y2="{y2}" '
                'stroke="{c}" stroke-width="2"/><line x1="{b}" x2="{b}" y1="{y1}" y2="{y2}" '
                'stroke="{c}" stroke-width="2"/></g>',
                name=arm["name"], a=a, b=b, y=y, y1=y - 7, y2=y + 7, c=colour,
            ))
        parts.append(_html(
            '<circle class="per-usd-point" data-arm="{name}" cx="{cx}" cy="{y}" r="6" fill="{c}">'
            '<title>{name}: {value}{interval}</title></circle>',
            name=arm["name"], cx=xs(float(value)), y=y, c=colour, value=per_usd(value),
            interval=f", 95% interval [{signed_percent(ci[0])}, {signed_percent(ci[1])}]" if ci and None not in ci else "",
        ))
    return _svg(height, "Decision alpha per dollar per arm, with 95% intervals", "".join(parts), id="alpha-per-usd")
