"""The digest's chart, a PNG: daily cash over the last 8 weeks, the expected position over the next 4."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Iterable
from typing import Any

from bot.features.digest.compose import Series

# Sized for a phone: 1000 x 560 px, large type, two lines only.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 10.0, 5.6, 100
# matplotlib's font cache and text layout are not safe to share between threads.
_LOCK = threading.Lock()


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


def draw(series: Series) -> bytes:
    """A PNG of the series (a Figure, not pyplot: nothing global is kept between charts)."""
    # Imported here: matplotlib takes ~0.6 s to import, which only a process that draws should pay.
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit: the worker draws into memory
    from matplotlib.figure import Figure

    with _LOCK:
        figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
        axes = figure.add_subplot()
        days = _x(day for day, _ in series.history)
        axes.plot(days, [float(v) for _, v in series.history], color="#1f6feb", linewidth=3, label="Cash")
        if series.forecast:
            ahead = [series.history[-1], *series.forecast]
            axes.plot(
                _x(day for day, _ in ahead),
                [float(v) for _, v in ahead],
                color="#d29922",
                linewidth=3,
                linestyle="--",
                label="Expected (cash + receivables - payables due)",
            )
        axes.axvline(days[-1], color="#888888", linewidth=1)
        axes.set_title(f"Cash in {series.currency}: last 8 weeks, next 4", fontsize=18)
        _style(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _style(axes: Any) -> None:
    from matplotlib.dates import DateFormatter, WeekdayLocator
    from matplotlib.ticker import FuncFormatter

    axes.yaxis.set_major_formatter(FuncFormatter(_compact))
    axes.xaxis.set_major_locator(WeekdayLocator(byweekday=0, interval=2))  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_formatter(DateFormatter("%d/%m"))  # type: ignore[no-untyped-call]
    axes.tick_params(labelsize=14)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=13, loc="upper left")
