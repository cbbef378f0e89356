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
    """A figure with its two lines and the "today" rule, kept between charts.

    What every chart of a tick shares (title, legend, x axis, frame) is drawn once per currency
    and date range and kept as a background bitmap; each chart restores it and draws only its y
    axis and its lines (the text of the labels is what costs, not the lines).
    """

    def __init__(self) -> None:
        # Imported here: matplotlib takes ~0.6 s to import, which only a process that draws pays.
        import matplotlib

        matplotlib.use("Agg")  # no display, no GUI toolkit: the worker draws into memory
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
        self.canvas: Any = FigureCanvasAgg(self.figure)  # its blitting calls are untyped
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
        # Fixed margins: tight_layout measured every label and cost as much as drawing. The right
        # one leaves room for half of the last date label, which is centred on the last day.
        self.figure.subplots_adjust(left=0.1, right=0.95, top=0.8, bottom=0.1)
        self._background: Any = None
        self._background_key: tuple[object, ...] = ()

    def draw(self, series: Series) -> bytes:
        days = _x(day for day, _ in series.history)
        self.cash.set_data(days, [float(v) for _, v in series.history])
        ahead = [series.history[-1], *series.forecast]
        self.expected.set_data(_x(day for day, _ in ahead), [float(v) for _, v in ahead])
        self.expected.set_visible(bool(series.forecast))
        self.today.set_xdata([days[-1], days[-1]])
        self.axes.set_title(f"Cash in {series.currency}: last 8 weeks, next 4", fontsize=18, pad=34)
        self.axes.relim()
        self.axes.autoscale_view()
        key = (series.currency, self.axes.get_xlim(), bool(series.forecast))
        if key != self._background_key:
            self._draw_background(key)
        self.canvas.restore_region(self._background)
        for artist in self._varying():
            if artist.get_visible():
                self.axes.draw_artist(artist)
        return _png(self.canvas)

    def _varying(self) -> tuple[Any, ...]:
        """What differs from one chart to the next (drawn over the background)."""
        return (self.axes.yaxis, self.cash, self.expected, self.today)

    def _draw_background(self, key: tuple[object, ...]) -> None:
        varying = self._varying()
        shown = [artist.get_visible() for artist in varying]
        for artist in varying:
            artist.set_visible(False)
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self._background_key = key
        for artist, visible in zip(varying, shown, strict=True):
            artist.set_visible(visible)


def _png(canvas: Any) -> bytes:
    """The canvas as an RGB PNG: the alpha channel is opaque anyway, and a quarter of the bytes
    to compress; the fast zlib level makes it a few kB larger, written in a fraction of the time."""
    from PIL import Image

    width, height = canvas.get_width_height()
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="png", compress_level=1)
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
    # Above the plot, between the title and the frame: it never hides a line.
    axes.legend(
        fontsize=13, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2, frameon=False, borderaxespad=0.2
    )


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
