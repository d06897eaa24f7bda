"""A progress bar for the backfill, shared by the commands that run one."""

from typing import TextIO

from tqdm import tqdm

from usage_rollup.rollup import Slice


class BackfillProgress:
    """A BackfillObserver that draws rows done, slices done, rate and ETA on `stream`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: tqdm | None = None
        self.slices = 0
        self.done = 0

    def planned(self, slices: list[Slice]) -> None:
        self.slices = len(slices)
        self.bar = tqdm(
            total=sum(piece.rows for piece in slices),
            unit="row",
            unit_scale=True,
            desc="backfill",
            file=self.stream,
        )

    def sliced(self, piece: Slice, rows_changed: int) -> None:
        self.done += 1
        self.bar.set_postfix_str(f"slice {self.done}/{self.slices}", refresh=False)
        self.bar.update(piece.rows)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
