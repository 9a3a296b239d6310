"""Every confluent-kafka client of the product is configured by ``client_config``, which adds
the Kafka security settings: a configuration written by hand would connect without them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ("processor", "producers", "db", "benchmarks")
THE_ONE_PLACE = Path("processor/kafka/security.py")
LITERAL = "bootstrap.servers"


def product_files() -> list[Path]:
    return sorted(path for folder in PRODUCT for path in (ROOT / folder).rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts)


def test_only_client_config_names_bootstrap_servers() -> None:
    naming = [path.relative_to(ROOT) for path in product_files()
              if LITERAL in path.read_text(encoding="utf-8", errors="replace")]
    assert naming == [THE_ONE_PLACE], (
        f"{', '.join(map(str, naming))} name {LITERAL!r}: make the client's configuration with "
        "processor.kafka.security.client_config(bootstrap, **options), which adds "
        "KAFKA_SECURITY_PROTOCOL and the KAFKA_SASL_* and KAFKA_SSL_* settings")


def test_the_check_reads_the_product() -> None:
    files = {path.relative_to(ROOT) for path in product_files()}
    assert {THE_ONE_PLACE, Path("processor/kafka/producer.py"),
            Path("producers/publish.py"), Path("benchmarks/soak.py")} <= files
