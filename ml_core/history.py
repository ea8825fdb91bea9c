"""A run's metrics over time, bounded, and as CSV: what the labs' "metrics .csv" export writes.

A lab records one row (a dict of numbers) whenever it reports metrics; ``MetricsHistory`` keeps at
most ``limit`` of them by thinning the older half when full (the CNN's curves do the same), so a
run of any length keeps its shape in bounded memory: the recent part at full detail, the start
coarser. A row for the step already recorded last replaces it (metrics are read more often than
the weights change).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

HISTORY_POINTS = 1000  # rows kept; beyond this the older half is thinned


class MetricsHistory:
    """Rows of metrics in order of their ``step``; at most ``limit`` of them."""

    def __init__(self, limit: int = HISTORY_POINTS, key: str = "step") -> None:
        if limit < 4:
            raise ValueError("a history keeps at least 4 rows")
        self.limit, self.key = limit, key
        self._rows: list[dict] = []

    def record(self, row: dict) -> None:
        if self._rows and self._rows[-1][self.key] == row[self.key]:
            self._rows[-1] = dict(row)
            return
        self._rows.append(dict(row))
        if len(self._rows) > self.limit:  # thin the older half: long runs keep their shape
            half = self.limit // 2
            self._rows = self._rows[:half:2] + self._rows[half:]

    def rows(self) -> list[dict]:
        return [dict(row) for row in self._rows]

    def __len__(self) -> int:
        return len(self._rows)


def to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    """CSV text with a header of ``columns``; a missing or None value is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return out.getvalue()
