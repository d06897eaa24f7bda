"""The rollup's benchmark in one command: synthetic histories of growing size, every figure
measured on each, one table of ratios and a plot of how each cost grows with history.

    python -m benchmarks                      # 100k and 1M usage rows
    python -m benchmarks --with-10m           # and 10M (about ten minutes more to build, once)
    python -m benchmarks --sizes 100k --smoke # a quick run that only shows it works

Each size lives in a database of its own on the project's server (usage_bench_<size>), built
once and reused while it holds the same number of rows (--fresh builds it anew), and is measured
by benchmarks/figures.py in a process of its own.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks import figures

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / ".artifacts" / "benchmarks"
DEFAULT_SIZES = ("100k", "1M")
TEN_MILLION = "10M"
HUNDRED_MILLION = "100M"
SMOKE_SIZES = ("2k", "5k")

Measured = dict[str, float]  # one size's figures, as figures.py prints them


def parse_size(text: str) -> int:
    """Rows from '100k', '1M', '2500'."""
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    digits = text[:-1] if factor > 1 else text
    try:
        rows = int(float(digits) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 100k, 1M)") from None
    if rows < 100:
        raise argparse.ArgumentTypeError(f"a history needs at least 100 rows, not {text!r}")
    return rows


def size_label(rows: int) -> str:
    for factor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if rows >= factor and rows % factor == 0:
            return f"{rows // factor}{suffix}"
    return f"{rows:,}"


@dataclasses.dataclass(frozen=True)
class Figure:
    """A row of the table: its value at each size, the ratio beside it, and its bar."""

    name: str
    value: Callable[[Measured], float]
    unit: str  # "s" (shown in ms or s) or "/s" (a rate)
    ratio: Callable[[Measured, Measured], float] | None = None  # (this size, smallest size)
    ratio_name: str = ""
    bar: Callable[[dict[int, Measured]], str] | None = None
    plotted: bool = False


def _vs(this: str, that: str) -> Callable[[Measured, Measured], float]:
    return lambda m, _: m[that] / m[this]


def _over(this: str, that: str) -> Callable[[Measured, Measured], float]:
    return lambda m, _: m[this] / m[that]


def _growth(key: str) -> Callable[[Measured, Measured], float]:
    return lambda m, smallest: m[key] / smallest[key]


def _at(results: dict[int, Measured], rows: int, key: str, *, of: str | None = None):
    """A figure (or its ratio to another) at `rows`, or None when that size was not run."""
    measured = results.get(rows)
    if measured is None or key not in measured:
        return None
    return measured[key] / measured[of] if of else measured[key]


def _verdict(ok: bool | None) -> str:
    return "not run" if ok is None else ("met" if ok else "MISSED")


def _read_bar(days: int) -> Callable[[dict[int, Measured]], str]:
    def bar(results: dict[int, Measured]) -> str:
        at_1m = _at(results, 1_000_000, f"read_raw_{days}", of=f"read_rollup_{days}")
        at_10m = _at(results, 10_000_000, f"read_raw_{days}", of=f"read_rollup_{days}")
        flat = _flatness(results, f"read_rollup_{days}")
        return (
            f">=100x at 1M: {_verdict(at_1m and at_1m >= 100)}; "
            f">=1000x at 10M: {_verdict(at_10m and at_10m >= 1000)}; "
            f"flat {_growth_text(flat)}"
        )

    return bar


def _flatness(results: dict[int, Measured], key: str) -> float | None:
    sizes = [size for size in sorted(results) if key in results[size]]
    if len(sizes) < 2:
        return None
    return results[sizes[-1]][key] / results[sizes[0]][key]


def _growth_text(growth: float | None) -> str:
    if growth is None:
        return "(one size): not run"
    return f"{growth:.2f}x over the sizes, <=1.5x: {_verdict(growth <= 1.5)}"


def _flat_bar(key: str) -> Callable[[dict[int, Measured]], str]:
    return lambda results: "flat " + _growth_text(_flatness(results, key))


def _ratio_bar(this: str, that: str, text: str, passes: Callable[[float], bool], rows=None):
    """A bar on this/that at every size (or only at `rows`)."""

    def bar(results: dict[int, Measured]) -> str:
        sizes = [rows] if rows else sorted(results)
        ratios = [_at(results, size, this, of=that) for size in sizes]
        ok = None if None in ratios else all(passes(ratio) for ratio in ratios)
        return f"{text}: {_verdict(ok)}"

    return bar


def _read(days: int) -> tuple[Figure, Figure, Figure]:
    raw, rollup, zoned = f"read_raw_{days}", f"read_rollup_{days}", f"read_rollup_{days}_zoned"
    return (
        Figure(f"read {days} d, raw", lambda m: m[raw], "s", plotted=True),
        Figure(
            f"read {days} d, rollup",
            lambda m: m[rollup],
            "s",
            _vs(rollup, raw),
            "x faster than raw",
            _read_bar(days),
            plotted=True,
        ),
        Figure(
            f"read {days} d in {figures.ZONE}, rollup",
            lambda m: m[zoned],
            "s",
            _over(zoned, rollup),
            "x the UTC rollup read",
            _ratio_bar(zoned, rollup, "<=2x", lambda ratio: ratio <= 2),
        ),
    )


def _flat(name: str, key: str) -> Figure:
    """A cost that must not grow with history: its ratio is to the smallest size's."""
    return Figure(
        name, lambda m: m[key], "s", _growth(key), "x the smallest size", _flat_bar(key), True
    )


def _triggers(name: str, key: str) -> tuple[Figure, Figure]:
    """An operation with the rollup's triggers disabled, and with them (at most 2x)."""
    with_them, without = f"{key}_with", f"{key}_without"
    return (
        Figure(f"{name}, triggers off", lambda m: m[without], "s"),
        Figure(
            f"{name}, with triggers",
            lambda m: m[with_them],
            "s",
            _over(with_them, without),
            "x triggers off",
            _ratio_bar(with_them, without, "<=2x", lambda r: r <= 2),
        ),
    )


def _endpoint(mode: str, state: str = "", suffix: str = "") -> Figure:
    """Requests per second of the endpoint in a read mode, against the raw mode's."""
    key = f"endpoint_{mode}{suffix}"
    if mode == "raw":
        return Figure(f"endpoint req/s, raw{state}", lambda m: m[key], "/s")
    return Figure(
        f"endpoint req/s, {mode}{state}",
        lambda m: m[key],
        "/s",
        _over(key, f"endpoint_raw{suffix}"),
        "x raw",
    )


FIGURES = (
    *_read(30),
    *_read(90),
    _flat("tick after 1,000 new rows", "tick_new_rows"),
    _flat("tick after 1 corrected row", "tick_correction"),
    _flat(f"tick after deleting a {figures.ISSUE_DAYS}-day issue", "tick_issue_delete"),
    Figure(
        "INSERT ... SELECT ... GROUP BY (floor)", lambda m: m["backfill_floor"], "s", plotted=True
    ),
    Figure(
        "full backfill",
        lambda m: m["backfill"],
        "s",
        _over("backfill", "backfill_floor"),
        "x the floor",
        _ratio_bar("backfill", "backfill_floor", "<=3x the floor at every size", lambda r: r <= 3),
        plotted=True,
    ),
    Figure(
        "CREATE TABLE AS ... GROUP BY (one pass, no indexes)",
        lambda m: m["backfill_floor_bare"],
        "s",
    ),
    Figure(
        "full backfill, against the one pass",
        lambda m: m["backfill"],
        "s",
        _over("backfill", "backfill_floor_bare"),
        "x the one pass",
    ),
    Figure("REFRESH MATERIALIZED VIEW CONCURRENTLY", lambda m: m["refresh_mv"], "s", plotted=True),
    Figure(
        "tick after changing 1% of a day",
        lambda m: m["tick_1pct_day"],
        "s",
        _vs("tick_1pct_day", "refresh_mv"),
        "x cheaper than refresh",
        _ratio_bar(
            "refresh_mv", "tick_1pct_day", ">=50x cheaper at 1M", lambda r: r >= 50, 1_000_000
        ),
        plotted=True,
    ),
    Figure("usage inserts, plain table", lambda m: m["insert_plain"], "/s"),
    Figure(
        "usage inserts, with the rollup",
        lambda m: m["insert_rollup"],
        "/s",
        _over("insert_rollup", "insert_plain"),
        "x the plain rate",
        _ratio_bar("insert_rollup", "insert_plain", ">=0.95x", lambda r: r >= 0.95),
    ),
    Figure(
        "usage inserts, the client sends updated_at",
        lambda m: m["insert_rollup_client_stamped"],
        "/s",
        _over("insert_rollup_client_stamped", "insert_plain"),
        "x the plain rate",
    ),
    *_triggers("delete an issue", "delete_issue"),
    *_triggers("reassign tasks", "reassign"),
    Figure(
        "1,000 single-row status updates, triggers off", lambda m: m["status_updates_without"], "s"
    ),
    Figure(
        "1,000 single-row status updates, with triggers",
        lambda m: m["status_updates_with"],
        "s",
        _over("status_updates_with", "status_updates_without"),
        "x triggers off",
    ),
    Figure(
        "read 90 d, realtime",
        lambda m: m["read_realtime_90"],
        "s",
        _vs("read_realtime_90", "read_raw_90"),
        "x faster than raw",
    ),
    Figure(
        "read 90 d, realtime, 1,000 rows pending",
        lambda m: m["read_realtime_90_pending"],
        "s",
        _vs("read_realtime_90_pending", "read_raw_90_pending"),
        "x faster than raw",
    ),
    *(_endpoint(mode) for mode in ("raw", "rollup", "realtime")),
    _endpoint("realtime", ", rows pending", "_pending"),
)


def _amount(value: float, unit: str) -> str:
    if unit == "/s":
        # Three significant digits below 100: a raw endpoint at 100M answers 0.04 requests/s.
        return f"{value:,.0f}/s" if value >= 100 else f"{value:#.3g}/s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms" if value >= 0.01 else f"{value * 1000:.2f} ms"


def _ratio(value: float) -> str:
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def table(results: dict[int, Measured], method: str) -> str:
    """One line per figure: its value at each size, "time (ratio)", then its bar."""
    sizes = sorted(results)
    first = results[sizes[0]]
    heads = [f"{size_label(s)} rows, {results[s]['days']:.0f} d" for s in sizes]
    cells = []
    for figure in FIGURES:
        row = []
        for size in sizes:
            try:
                text = _amount(figure.value(results[size]), figure.unit)
            except KeyError:  # a figure Repeats.at_scale() leaves out
                row.append("not measured")
                continue
            if figure.ratio:
                text += f" ({_ratio(figure.ratio(results[size], first))})"
            row.append(text)
        ratio = f" [ratio: {figure.ratio_name}]" if figure.ratio_name else ""
        cells.append((figure.name + ratio, row, figure.bar(results) if figure.bar else ""))
    name_width = max(len(name) for name, _, _ in cells)
    widths = [max(len(h), *(len(row[i]) for _, row, _ in cells)) for i, h in enumerate(heads)]
    columns = (f"{head:>{width}}" for head, width in zip(heads, widths, strict=True))
    line = " | ".join([f"{'figure':<{name_width}}", *columns])
    lines = [line + " | bar", "-" * (len(line) + 6)]
    for name, row, bar in cells:
        values = " | ".join(f"{cell:>{w}}" for cell, w in zip(row, widths, strict=True))
        lines.append(f"{name:<{name_width}} | {values} | {bar}")
    return "\n".join([*lines, "", method])


def method_note(repeats: figures.Repeats, sizes: list[int]) -> str:
    note = (
        "Method: wall clock of each SQL statement in one session (synchronous_commit at its "
        f"default), median of {repeats.reads} reads, of {repeats.ticks} ticks (fresh changes "
        f"each time), of {repeats.refreshes} refreshes and their ticks, of 3 rounds of "
        f"{repeats.clients} clients x {repeats.inserts_per_client:,} single-row INSERTs "
        f"(alternating tables), of 3 deletes/reassigns of {repeats.bulk_tasks:,} usage rows/tasks "
        "in rolled-back transactions (alternating triggers off and on); one backfill from an "
        f"empty rollup against the best of {repeats.floors} floors; endpoint: "
        f"{repeats.requests} requests from {repeats.clients} client threads to gunicorn "
        f"(2 workers). Daily rate {figures.ROWS_PER_DAY:,} rows/day up to "
        f"{figures.LONGEST_DAYS:,} days."
    )
    large = [size for size in sizes if size > figures.SCALE_ROWS]
    if large:
        at_scale = figures.Repeats.at_scale()
        shape = figures.shape_for(large[0])
        note += (
            f" Beyond {size_label(figures.SCALE_ROWS)} rows: {shape.days:,} days of "
            f"{shape.workspaces} workspaces, {shape.runtimes:,} runtimes and {shape.agents:,} "
            f"agents (a task's agent in its runtime's workspace); median of {at_scale.reads} "
            f"reads, {at_scale.refreshes} refresh, {at_scale.floors} floor each, "
            f"{at_scale.requests} requests; no insert rates (they need a copy of task_usage); "
            f"the materialized view built and refreshed with work_mem {at_scale.refresh_work_mem}."
        )
    return note


def plot(results: dict[int, Measured], path: Path) -> None:
    """Each time figure against history size, log-log, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = sorted(results)
    fig, axes = pyplot.subplots(figsize=(10, 6.5))
    axes.set_prop_cycle(color=pyplot.get_cmap("tab20").colors)  # a colour per figure
    for figure in FIGURES:
        if figure.plotted:
            seconds = [figure.value(results[size]) for size in sizes]
            axes.plot(sizes, seconds, marker="o", label=figure.name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(sizes, [size_label(size) for size in sizes])
    axes.set_xlabel("usage rows in history (2,740 rows a day: a larger history is a longer one)")
    axes.set_ylabel("seconds (log)")
    axes.set_title("How each cost grows with history size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    pyplot.close(fig)


def measure_size(rows: int, args: argparse.Namespace) -> Measured:
    """Run benchmarks/figures.py on a history of `rows` rows in its own process."""
    command = [sys.executable, "-m", "benchmarks.figures", "--rows", str(rows)]
    command += ["--db-name", f"{args.db_prefix}_{size_label(rows).lower()}"]
    command += ["--fresh"] * args.fresh + ["--smoke"] * args.smoke + ["--resume"] * args.resume
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(
            f"measuring {rows:,} rows failed (exit status {done.returncode}; its error is above); "
            "the steps it finished are recorded, and --resume goes on after them"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [parse_size(size) for size in text.split(",")],
        help="history sizes in usage rows, e.g. 100k,1M (default: 100k,1M; --smoke: 2k,5k)",
    )
    parser.add_argument("--with-10m", action="store_true", help="add a history of 10M rows")
    parser.add_argument(
        "--with-100m",
        action="store_true",
        help="add a history of 100M rows (~60 GB of disk; about four hours to build and measure)",
    )
    parser.add_argument("--fresh", action="store_true", help="build every history anew")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep each size's steps that an unfinished run measured (figures.StepRecord)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes and few repetitions: shows it runs"
    )
    parser.add_argument("--db-prefix", default="usage_bench", help="databases are <prefix>_<size>")
    parser.add_argument("--out", type=Path, default=ARTIFACTS, help="folder for the table and plot")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [parse_size(size) for size in (SMOKE_SIZES if args.smoke else DEFAULT_SIZES)]
    if args.with_10m:
        args.sizes.append(parse_size(TEN_MILLION))
    if args.with_100m:
        args.sizes.append(parse_size(HUNDRED_MILLION))
    args.sizes = sorted(set(args.sizes))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = {}
    for rows in args.sizes:
        print(f"History of {rows:,} usage rows...", file=sys.stderr, flush=True)
        results[rows] = measure_size(rows, args)
    repeats = figures.Repeats.smoke() if args.smoke else figures.Repeats()
    printed = table(results, method_note(repeats, args.sizes))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "table.txt").write_text(printed + "\n")
    plot(results, args.out / "benchmarks.png")
    print(printed)
    print(f"\nPlot: {args.out / 'benchmarks.png'}")


if __name__ == "__main__":
    main()
