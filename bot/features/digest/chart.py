"""The digest's chart, a PNG: daily cash over the last 8 weeks, the expected position over the next 4."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import multiprocessing
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bot.features.digest.compose import Series

# Sized for a phone: Slack shows it about 400 points wide, so 825 x 462 px with large type (labels
# about a twentieth of the height) and two thick lines only.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.5, 4.2, 110
CASH_COLOUR, EXPECTED_COLOUR = "#1f6feb", "#d29922"
# One figure is drawn again for every chart (building its axes and ticks cost more than drawing);
# matplotlib's objects are not safe to share between threads, hence the lock.
_LOCK = threading.Lock()
_canvas: _Canvas | None = None


def _compact(value: float, _: object = None) -> str:
    size = abs(value)
    if size >= 1_000_000:
        return f"{value / 1_000_000:.2f}".rstrip("0").rstrip(".") + "M"
    if size >= 1_000:
        return f"{value / 1_000:.0f}k"
    return f"{value:.0f}"


def _x(days: Iterable[dt.date]) -> list[float]:
    from matplotlib.dates import date2num

    return [float(date2num(day)) for day in days]  # type: ignore[no-untyped-call]


class _Canvas:
    """A figure with its two lines and the "today" rule, kept between charts."""

    def __init__(self) -> None:
        # Imported here: matplotlib takes ~0.6 s to import, which only a process that draws pays.
        import matplotlib

        matplotlib.use("Agg")  # no display, no GUI toolkit: the worker draws into memory
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
        self.axes = self.figure.add_subplot()
        (self.cash,) = self.axes.plot([], [], color=CASH_COLOUR, linewidth=3, label="Cash")
        (self.expected,) = self.axes.plot(
            [],
            [],
            color=EXPECTED_COLOUR,
            linewidth=3,
            linestyle="--",
            label="Expected: + receivables - payables due",
        )
        self.today = self.axes.axvline(0, color="#888888", linewidth=1)
        _style(self.axes)
        # Fixed margins: tight_layout measured every label and cost as much as drawing.
        self.figure.subplots_adjust(left=0.1, right=0.98, top=0.89, bottom=0.1)

    def draw(self, series: Series) -> bytes:
        days = _x(day for day, _ in series.history)
        self.cash.set_data(days, [float(v) for _, v in series.history])
        ahead = [series.history[-1], *series.forecast]
        self.expected.set_data(_x(day for day, _ in ahead), [float(v) for _, v in ahead])
        self.expected.set_visible(bool(series.forecast))
        self.today.set_xdata([days[-1], days[-1]])
        self.axes.set_title(f"Cash in {series.currency}: last 8 weeks, next 4", fontsize=18)
        self.axes.relim()
        self.axes.autoscale_view()
        buffer = io.BytesIO()
        # Fast zlib level: the PNG is a few kB larger, written in a fraction of the time.
        self.figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
        return buffer.getvalue()


def draw(series: Series) -> bytes:
    """The series as a PNG."""
    global _canvas
    with _LOCK:
        if _canvas is None:
            _canvas = _Canvas()
        return _canvas.draw(series)


def _style(axes: Any) -> None:
    from matplotlib.dates import DateFormatter, WeekdayLocator
    from matplotlib.ticker import FuncFormatter

    axes.yaxis.set_major_formatter(FuncFormatter(_compact))
    axes.xaxis.set_major_locator(WeekdayLocator(byweekday=0, interval=2))  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_formatter(DateFormatter("%d/%m"))  # type: ignore[no-untyped-call]
    axes.tick_params(labelsize=15)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=13, loc="upper left")


class Charts:
    """Draws charts off the event loop: in a thread, or in `processes` worker processes.

    Drawing is CPU-bound Python (about 60 ms a chart). A thread keeps the loop answering but
    shares its core (the GIL); processes use the machine's other cores (CASHBOT_CHART_PROCESSES).
    They are spawned, not forked: the worker has threads (aiosqlite, executors) a fork would copy
    mid-flight.
    """

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None

    async def draw(self, series: Series) -> bytes:
        loop = asyncio.get_running_loop()
        if self._processes < 1:
            return await loop.run_in_executor(None, draw, series)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._processes, mp_context=multiprocessing.get_context("spawn")
            )
        return await loop.run_in_executor(self._pool, draw, series)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
