"""How hard regtui leans on one registry: a rate cap, an adaptive in-flight limit, a meter.

All three sit in one transport layer under the read-only guard, so every request counts:
tag lists, manifests, blobs, token requests and each retry alike.

- `TokenBucket`: `max_requests_per_second`, with a burst of a twentieth of a second's worth.
- `AdaptiveLimit`: starts at `concurrency`, grows while latency holds near the best seen
  (by half at first, "slow start", then by one), halves on 429/5xx, steps down when latency
  rises; never above `max_concurrency`. Slow start matters on a wide-area link: at a 20 ms
  round trip the knee is (requests/s x 20 ms) in flight, and growing by one per window of
  `limit` samples would spend most of a walk below it.
- `RequestMeter`: requests sent and their recent rate, for the fleet view.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Final

import httpx

BACKOFF_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
RATE_WINDOW: Final = 10.0
LATENCY_HOLDS: Final = 1.5
"""Latency below this many times the best window's is "holding": the limit may grow."""
LATENCY_RISES: Final = 2.5
"""Latency above this many times the best window's is a queue building: the limit shrinks."""
BASELINE_DRIFT: Final = 0.01
"""The best latency may rise by this share per second (a registry that got busier for
everyone). Per second, not per window: a baseline that followed each window's latency up
would let the limit's own queue creep in unnoticed, one in-flight request at a time."""

Clock = Callable[[], float]


class TokenBucket:
    """At most `rate` requests per second over any window, bursts of `rate / 20` (at least 1)."""

    def __init__(self, rate: float, *, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, rate / 20)
        self._tokens = self.burst
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        """Wait for a token; waiters are served in arrival order."""
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self.rate)


class AdaptiveLimit:
    """An in-flight limit that looks for the registry's knee (AIMD on latency and errors)."""

    def __init__(self, start: int, maximum: int, *, clock: Clock = time.monotonic) -> None:
        self.maximum = max(1, maximum)
        self.limit = max(1, min(start, self.maximum))
        self.in_flight = 0
        self._clock = clock
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._best: float | None = None
        self._best_at = clock()
        self._window: list[float] = []
        self._peak = 0
        self._overloaded = False
        self.slow_start = True
        """Grow by half per window until latency first stops holding or the registry pushes back."""

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            self._peak = max(self._peak, self.in_flight)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # it was handed a slot it will never use
            raise

    def release(self, seconds: float, status: int | None) -> None:
        """One request ended after `seconds`; `status` None for a transport failure."""
        self._observe(seconds, status)
        self._release_slot()

    def abandon(self) -> None:
        """Give a slot back without a latency sample (a cancelled request)."""
        self._release_slot()

    def _release_slot(self) -> None:
        self.in_flight -= 1
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                self._peak = max(self._peak, self.in_flight)
                waiter.set_result(None)

    def _observe(self, seconds: float, status: int | None) -> None:
        if status is None or status in BACKOFF_STATUSES:
            self._overloaded = True
        self._window.append(seconds)
        if len(self._window) < max(8, self.limit):
            return
        window, self._window = sorted(self._window), []
        median = window[len(window) // 2]
        busy = self._peak >= self.limit
        self._peak = self.in_flight
        if self._overloaded:
            self._overloaded = False
            self.slow_start = False
            self.limit = max(1, self.limit // 2)
            return
        now = self._clock()
        if self._best is None or median <= self._best:
            self._best = median
        else:
            self._best = min(median, self._best * (1 + BASELINE_DRIFT * (now - self._best_at)))
        self._best_at = now
        holds = median <= self._best * LATENCY_HOLDS
        if self.slow_start and not holds:
            self.slow_start = False  # past the knee: give back the last step, then go by one
            self.limit = max(1, round(self.limit / 1.5))
        elif median > self._best * LATENCY_RISES:
            self.limit = max(1, self.limit - 1)
        elif holds and busy and self.limit < self.maximum:
            step = max(1, self.limit // 2) if self.slow_start else 1
            self.limit = min(self.maximum, self.limit + step)


class RequestMeter:
    """Requests sent to one registry: the total, and the rate over the last seconds."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self.sent = 0
        self._clock = clock
        self._recent: deque[float] = deque()

    def count(self) -> None:
        now = self._clock()
        self.sent += 1
        self._recent.append(now)
        self._trim(now)

    def rate(self, window: float = RATE_WINDOW) -> float:
        """Requests per second over the last `window` seconds (at most `RATE_WINDOW`)."""
        now = self._clock()
        self._trim(now)
        span = min(window, RATE_WINDOW)
        return sum(1 for stamp in self._recent if now - stamp <= span) / span

    def _trim(self, now: float) -> None:
        while self._recent and now - self._recent[0] > RATE_WINDOW:
            self._recent.popleft()


class _HeldBody(httpx.AsyncByteStream):
    """A body whose in-flight slot is given back when it is closed (or fully read)."""

    def __init__(self, inner: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._inner = inner
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._finish()

    def _finish(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()

    def __del__(self) -> None:
        self._finish()  # a body nobody closed must not hold its slot for ever


class PacedTransport(httpx.AsyncBaseTransport):
    """Rate cap, adaptive in-flight limit and meter over the transport that does the I/O."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, limit: AdaptiveLimit,
                 rate: float | None = None, meter: RequestMeter | None = None,
                 bucket: TokenBucket | None = None, clock: Clock = time.monotonic) -> None:
        self._inner = inner
        self.limit = limit
        self.bucket = bucket or (TokenBucket(rate, clock=clock) if rate else None)
        self.meter = meter or RequestMeter(clock=clock)
        self._clock = clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.limit.acquire()
        started = self._clock()
        try:
            if self.bucket is not None:
                await self.bucket.take()
                started = self._clock()
            self.meter.count()
            response = await self._inner.handle_async_request(request)
        except asyncio.CancelledError:
            self.limit.abandon()  # the caller left: says nothing about the registry
            raise
        except BaseException:
            self.limit.release(self._clock() - started, None)
            raise
        status = response.status_code

        def done() -> None:
            self.limit.release(self._clock() - started, status)

        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _HeldBody(response.stream, done)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
