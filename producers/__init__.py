"""Producers: publish raw readings to ``telemetry.raw``."""
