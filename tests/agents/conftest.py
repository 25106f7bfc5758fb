"""Shared fixtures for the agents tests: one default world and index per test process."""
from __future__ import annotations

import functools

import pytest

from agents.tools import SearchIndex
from agents.world import build_world


@functools.lru_cache(maxsize=None)
def cached_world(seed: int = 0, scale: int = 2000):
    return build_world(seed, scale)


@functools.lru_cache(maxsize=None)
def cached_index(seed: int = 0, scale: int = 2000):
    return SearchIndex.build(cached_world(seed, scale).docs)


@pytest.fixture(scope="session")
def world():
    return cached_world()


@pytest.fixture(scope="session")
def index():
    return cached_index()
