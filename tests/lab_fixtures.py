"""Pytest fixtures for the real lab: import them into a conftest (`from ... import *`).

They never skip: a missing `docker-registry` or `prometheus` raises `LabError` with the way
to install it, so the lab tests fail loudly instead of passing by not running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from regtui.lab import Lab, start_lab

__all__ = ["htpasswd_lab", "lab", "lab_factory", "token_lab"]

LabFactory = Callable[..., Lab]


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The default data set with Prometheus, shared by the whole session: treat it read-only."""
    with start_lab(auth="none", dataset="default", prometheus=True) as started:
        yield started


@pytest.fixture(scope="module")
def htpasswd_lab() -> Iterator[Lab]:
    """A `minimal` lab behind htpasswd basic auth (credentials on `lab.username/password`)."""
    with start_lab(auth="htpasswd", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture(scope="module")
def token_lab() -> Iterator[Lab]:
    """A `minimal` lab behind the token server (`lab.token_url`, `lab.ca_file`)."""
    with start_lab(auth="token", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture
def lab_factory() -> Iterator[LabFactory]:
    """Private labs a test may change (delete, GC...); all stopped when the test ends.

    Defaults to `dataset="minimal", prometheus=False`; pass `start_lab` keywords to change.
    """
    started: list[Lab] = []

    def make(**kwargs: object) -> Lab:
        options: dict[str, object] = {"dataset": "minimal", "prometheus": False, **kwargs}
        new = start_lab(**options)  # type: ignore[arg-type]
        started.append(new)
        return new

    yield make
    for each in started:
        each.stop()
