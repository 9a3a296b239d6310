"""The worker's garbage-collector threshold (GC_GEN0_THRESHOLD)."""

import gc

import pytest

from processor.settings import Settings
from processor.stream.gc_tuning import tune_gc


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("thresholds")
def test_raises_the_youngest_generation_only():
    assert tune_gc(50_000) == (50_000, 10, 10)
    assert gc.get_threshold() == (50_000, 10, 10)


@pytest.mark.usefixtures("thresholds")
def test_zero_keeps_pythons_default():
    assert tune_gc(0) == (700, 10, 10)


def test_setting_from_the_environment(monkeypatch):
    assert Settings().gc_gen0_threshold == 50_000
    monkeypatch.setenv("GC_GEN0_THRESHOLD", "0")
    assert Settings().gc_gen0_threshold == 0
    monkeypatch.setenv("GC_GEN0_THRESHOLD", "-1")
    with pytest.raises(ValueError, match="gc_gen0_threshold"):
        Settings()
