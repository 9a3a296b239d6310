"""What a worker's Faust app is told about its broker (processor/app.py)."""

from __future__ import annotations

from pathlib import Path

from processor.app import faust_app
from processor.settings import Settings


def test_faust_checks_its_recovery_on_every_broker_but_the_embedded_one(tmp_path: Path) -> None:
    kafka = Settings(kafka_bootstrap_servers="kafka-1:9092", data_dir=tmp_path)
    embedded = Settings(kafka_bootstrap_servers="127.0.0.1:9092", kafka_embedded=True,
                        data_dir=tmp_path)
    assert faust_app(kafka).conf.recovery_consistency_check is True
    assert faust_app(embedded).conf.recovery_consistency_check is False
