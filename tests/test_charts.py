"""The server-side usage chart: what it totals, how it scales, and that data cannot inject."""

import datetime

from usage_rollup import charts

DAY = datetime.date(2026, 3, 1)


def _row(day: datetime.date, model: str, provider: str = "anthropic", **tokens: int) -> dict:
    counts = dict.fromkeys(charts.TOKEN_COLUMNS, 0) | tokens
    return {"date": day, "provider": provider, "model": model, **counts}


def test_every_day_of_the_period_has_a_slot_and_every_token_kind_counts():
    rows = [
        _row(DAY, "sonnet", input_tokens=1, output_tokens=2, cache_read_tokens=3),
        _row(DAY + datetime.timedelta(days=2), "sonnet", cache_write_tokens=4),
        _row(DAY, "gpt-5", provider="", input_tokens=100),
    ]

    data = charts.daily_tokens(rows, DAY, DAY + datetime.timedelta(days=2))

    assert data.days == [DAY + datetime.timedelta(days=n) for n in range(3)]
    assert data.by_model == {"gpt-5": [100, 0, 0], "anthropic/sonnet": [6, 0, 4]}
    assert data.totals == [106, 0, 4]


def test_the_axis_tops_out_at_a_round_number_above_the_busiest_day():
    data = charts.daily_tokens([_row(DAY, "sonnet", input_tokens=1057)], DAY, DAY)

    svg = charts.stacked_bars(data, "title")

    assert ">2k</text>" in svg and ">1.5k</text>" in svg
    assert 'data-tokens="1057"' in svg


def test_model_names_and_titles_are_escaped():
    data = charts.daily_tokens([_row(DAY, "<script>x</script>", input_tokens=1)], DAY, DAY)

    svg = charts.stacked_bars(data, 'a "quoted" <title>')

    assert "<script>" not in svg
    assert "&lt;script&gt;x&lt;/script&gt;" in svg
    assert "<title>a &quot;quoted&quot; &lt;title&gt;</title>" in svg


def test_an_empty_period_draws_axes_and_no_bars():
    svg = charts.stacked_bars(charts.daily_tokens([], DAY, DAY), "nothing")

    assert 'class="bar"' not in svg and "legend-entry" not in svg
    assert svg.startswith("<svg") and svg.endswith("</svg>")
