"""Usage charts drawn on the server as SVG: no script, no network, nothing to install.

`daily_tokens` turns the read path's rows into one total per day and model; `stacked_bars`
draws them as a stacked bar chart with axes and a legend. Every text that comes from the data
(model names) is escaped by format_html.
"""

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from usage_rollup.queries import TOKEN_COLUMNS

# Colour-blind-safe (Okabe-Ito), in the order models are first listed; reused past eight.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
WIDTH, HEIGHT = 860, 360
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 20, 60
Y_TICKS = 4
LEGEND_COLUMNS, LEGEND_WIDTH, LEGEND_ROW = 4, 190, 16


@dataclasses.dataclass(frozen=True)
class DailyTokens:
    """Tokens per day and model: `days` in order, and each model's total on each of them."""

    days: list[datetime.date]
    by_model: dict[str, list[int]]

    @property
    def totals(self) -> list[int]:
        return [sum(values[n] for values in self.by_model.values()) for n in range(len(self.days))]


def model_label(provider: str, model: str) -> str:
    """How a model is named in the legend: with its provider when it has one."""
    return f"{provider}/{model}" if provider else model


def daily_tokens(rows: Iterable[dict], since: datetime.date, until: datetime.date) -> DailyTokens:
    """All four token counts summed per day of [since, until] and model, every day present
    (a day without usage is a gap in the chart, not a missing bar); models largest first."""
    days = [since + datetime.timedelta(days=n) for n in range((until - since).days + 1)]
    index = {day: n for n, day in enumerate(days)}
    by_model: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for row in rows:
        if row["date"] in index:
            tokens = sum(row[column] for column in TOKEN_COLUMNS)
            by_model[model_label(row["provider"], row["model"])][index[row["date"]]] += tokens
    ordered = sorted(by_model.items(), key=lambda item: (-sum(item[1]), item[0]))
    return DailyTokens(days=days, by_model=dict(ordered))


def _nice_ceiling(value: int) -> int:
    """The top of the axis: Y_TICKS steps of 1, 2 or 5 times a power of ten, at or above value."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude * Y_TICKS >= value:
                return factor * magnitude * Y_TICKS
        magnitude *= 10


def _tokens(value: int) -> str:
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return str(value)


def stacked_bars(data: DailyTokens, title: str) -> SafeString:
    """An SVG stacked bar chart of tokens per day, one colour per model, with a legend."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_ceiling(max(data.totals, default=0))
    # The legend grows downwards, a row per LEGEND_COLUMNS models, below the plot's own height.
    legend_rows = max(1, -(-len(data.by_model) // LEGEND_COLUMNS))
    height = HEIGHT + LEGEND_ROW * (legend_rows - 1)
    slot = plot_width / max(len(data.days), 1)
    bar = round(max(slot * 0.8, 1), 1)
    parts = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="usage-chart" role="img" '
            'viewBox="0 0 {} {}" width="{}" height="{}" font-family="sans-serif" '
            'font-size="11"><title>{}</title>',
            WIDTH,
            height,
            WIDTH,
            height,
            title,
        )
    ]
    for tick in range(Y_TICKS + 1):
        value = top * tick // Y_TICKS
        y = round(TOP + plot_height - plot_height * tick / Y_TICKS, 1)
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                y,
                y,
                LEFT - 6,
                y,
                _tokens(value),
            )
        )
    colours = {model: PALETTE[n % len(PALETTE)] for n, model in enumerate(data.by_model)}
    label_every = max(1, len(data.days) // 10)
    for n, day in enumerate(data.days):
        x = round(LEFT + slot * n + (slot - bar) / 2, 1)
        base = TOP + plot_height
        for model, values in data.by_model.items():
            if not values[n]:
                continue
            segment = plot_height * values[n] / top
            base -= segment
            parts.append(
                format_html(
                    '<rect class="bar" data-model="{}" data-day="{}" data-tokens="{}" '
                    'x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} {}: {} tokens</title></rect>",
                    model,
                    day.isoformat(),
                    values[n],
                    x,
                    round(base, 1),
                    bar,
                    round(segment, 1),
                    colours[model],
                    day.isoformat(),
                    model,
                    f"{values[n]:,}",
                )
            )
        if n % label_every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                    round(x + bar / 2, 1),
                    TOP + plot_height + 14,
                    day.strftime("%m-%d"),
                )
            )
    parts.append(
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#333"/>'
            '<text x="{}" y="{}" text-anchor="middle">UTC day</text>'
            '<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">'
            "tokens per day</text>",
            LEFT,
            WIDTH - RIGHT,
            TOP + plot_height,
            TOP + plot_height,
            LEFT + plot_width / 2,
            TOP + plot_height + 32,
            TOP + plot_height / 2,
        )
    )
    parts.append(
        format_html_join(
            "",
            '<g class="legend-entry" data-model="{}"><rect x="{}" y="{}" width="10" height="10" '
            'fill="{}"/><text x="{}" y="{}">{}</text></g>',
            (
                (
                    model,
                    LEFT + LEGEND_WIDTH * (n % LEGEND_COLUMNS),
                    HEIGHT - 18 + LEGEND_ROW * (n // LEGEND_COLUMNS),
                    colours[model],
                    LEFT + LEGEND_WIDTH * (n % LEGEND_COLUMNS) + 14,
                    HEIGHT - 9 + LEGEND_ROW * (n // LEGEND_COLUMNS),
                    model,
                )
                for n, model in enumerate(data.by_model)
            ),
        )
    )
    parts.append(mark_safe("</svg>"))  # noqa: S308 -- a constant closing tag
    return mark_safe("".join(parts))  # noqa: S308 -- every part is built by format_html
