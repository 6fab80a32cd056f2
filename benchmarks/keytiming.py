"""Keystroke-to-screen timing through Textual's pilot, shared by the UI benchmarks.

The pilot waits for the app to go idle in 20 ms steps after every key; timing the pilot
would measure that wait. A keystroke's time is: key sent -> the first screen update handed
to the terminal after it (the key is processed before the next update).
"""

from __future__ import annotations

import bisect
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def watch_display(app: Any) -> list[float]:
    """Record (in order) when each screen update is handed to the driver."""
    shown = [0.0]
    display = app._display

    def timed(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        shown.append(time.perf_counter())

    app._display = timed
    return shown


async def time_key(pilot: Any, shown: list[float], key: str,
                   since: Callable[[float], float] | None = None, *,
                   settle: bool = False) -> float:
    """Seconds from pressing `key` to the next screen update; `since(began)` may move the
    point the update must follow (e.g. when the screen applied the key); `settle` lets the
    app go idle before `since` is asked."""
    began = time.perf_counter()
    await pilot.press(key)
    if settle:
        await pilot.pause()
    after = since(began) if since is not None else began
    index = bisect.bisect_right(shown, after)
    end = shown[index] if index < len(shown) else time.perf_counter()
    return end - began


def percentiles(latencies: Sequence[float], prefix: str = "") -> dict[str, float]:
    """p50 and p95 in milliseconds (p95 as the 19th of 20 quantiles)."""
    return {f"{prefix}p50_ms": round(statistics.median(latencies) * 1000, 1),
            f"{prefix}p95_ms": round(statistics.quantiles(latencies, n=20)[-1] * 1000, 1)}
