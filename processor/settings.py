"""Every setting of the system, declared once, read from the environment and ``.env``."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from processor.domain.api_keys import is_loopback
from processor.domain.efficiency import Rules
from processor.domain.readings import MIN_READING_TIME


class Settings(BaseSettings):
    """Configuration. Unset service addresses mean "start the embedded one"."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka brokers; unset starts the embedded broker (Tansu)."
    )
    kafka_embedded: bool = Field(
        default=False,
        description="The broker is the embedded one (Tansu): `up` sets it for its workers when "
                    "it started that broker. Faust's recovery consistency check is turned off "
                    "for it (it reports a partition's end too low, processor/app.py) and kept "
                    "on for every other broker.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How every Kafka client (the workers' Faust consumer and producer, every "
                    "confluent-kafka producer, consumer and admin client) reaches the brokers: "
                    "SSL encrypts, SASL_* logs in with KAFKA_SASL_*. PLAINTEXT is the embedded "
                    "broker's, and the only one it speaks (processor/kafka/security.py).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism; required by the SASL_* protocols."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password; never printed (shown as '**********')."
    )
    kafka_ssl_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) the brokers' certificates are checked against (SSL, "
                    "SASL_SSL); unset: the system's trusted CAs.",
    )
    kafka_ssl_cert_file: Path | None = Field(
        default=None, description="PEM client certificate for mutual TLS (with KAFKA_SSL_KEY_FILE)."
    )
    kafka_ssl_key_file: Path | None = Field(
        default=None,
        description="Unencrypted PEM private key of KAFKA_SSL_CERT_FILE (mutual TLS).",
    )
    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL; unset starts embedded PostgreSQL (pgserver)."
    )
    data_dir: Path = Field(default=Path(".energy"), description="Local state (embedded services).")
    web_port: int = Field(default=3000, ge=1, le=65535)
    web_bind: str = Field(
        default="127.0.0.1",
        description="Address the web server binds to. Beyond loopback the API requires keys "
                    "(`energy-ingest keys create`) and will not start without one; on loopback "
                    "it requires them once one exists (docs/security.md).",
    )
    read_auth: bool = Field(
        default=True,
        description="Whether reads (analytics, live state, the web view) need a key with the "
                    "read scope when keys are required; READ_AUTH=off leaves them open while "
                    "ingest and changes still need keys.",
    )
    api_keys_refresh_seconds: float = Field(
        default=5.0, gt=0,
        description="How often each HTTP process reads the active API keys again: the longest "
                    "a revoked key still works. A new key works at once.",
    )
    telemetry_partitions: int = Field(default=8, ge=1, le=1024)
    topic_replication_factor: int = Field(
        default=1, ge=1, le=32,
        description="Copies of every topic's partitions the system creates (1: one broker; 3 on "
                    "a three-broker cluster). Applied when a topic is created.",
    )
    topic_min_insync_replicas: int = Field(
        default=1, ge=1, le=32,
        description="min.insync.replicas of the topics the system creates: how many copies "
                    "must have a record before the broker acks it (producers use acks=all; 2 "
                    "on a three-broker cluster). At most TOPIC_REPLICATION_FACTOR.",
    )
    raw_retention_hours: float = Field(
        default=168.0, gt=0,
        description="How long telemetry.raw keeps readings (retention.ms, set when the topic is "
                    "created): the window within which `replay` can re-process them.",
    )
    min_reading_time: AwareDatetime = Field(
        default=MIN_READING_TIME,
        description="The earliest timestamp a reading may carry (ISO-8601 with a zone): older "
                    "ones are a device clock that was never set (year 1, 1900, 1970), and go "
                    "to telemetry.dlq with a reason naming this setting, as readings more than "
                    "5 minutes in the future do. Applied where readings are judged: the "
                    "gateway, the workers' router, replay.",
    )
    efficiency_threshold: float = Field(default=0.85, gt=0, le=2)
    min_charge_kwh: float = Field(
        default=2.0, ge=0,
        description="Least AC (kWh) in a vehicle's 24-hour window for its efficiency to be "
                    "judged; below it the vehicle is 'idle' (a parked car's charger standby), "
                    "shown but never alerted. 2 kWh: no false alert in a simulated 10,000-"
                    "vehicle backfill nor in a 24-hour run with 6 W of standby "
                    "(docs/architecture.md).",
    )
    alert_hysteresis: float = Field(
        default=0.01, ge=0, le=1,
        description="A flagged vehicle recovers only at EFFICIENCY_THRESHOLD plus this margin "
                    "(0.01: one percentage point), so one hovering at the threshold does not "
                    "flap between alert and recovery.",
    )
    link_inference: bool = Field(
        default=True,
        description="A vehicle without an explicit meter link falls back to the single meter "
                    "with the same trailing identifier (V-201 -> M-201); LINK_INFERENCE=off.",
    )
    alert_interval_seconds: float = Field(
        default=60.0, gt=0,
        description="How often the leader judges efficiencies for alerts (a fleet-wide query: "
                    "about 2 s of PostgreSQL at 10,000 vehicles).",
    )
    hourly_window_hours: int = Field(
        default=48, ge=25, description="Hours the Faust hourly window tables keep per device."
    )

    fleet_cache_seconds: float = Field(
        default=5.0, ge=0, description="How old a fleet snapshot the web view may be served."
    )
    fleet_stale_seconds: float = Field(
        default=60.0, ge=0,
        description="How old a fleet snapshot may still be served while a fresh one is "
                    "computed (no request waits for the fleet query unless the last snapshot "
                    "is older than this, or ?maxAge= asks for a younger one).",
    )
    app_id: str = Field(default="energy-ingest", description="Faust app id and consumer group.")
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="The worker's event loop. uvloop makes Faust's per-message machinery ~20% "
                    "cheaper (bare Faust agent: 4,900 -> 5,800 events/s here); asyncio is the "
                    "fallback, also used when uvloop is not installed.",
    )
    gc_gen0_threshold: int = Field(
        default=50_000, ge=0,
        description="Allocations between two collections of the youngest garbage-collector "
                    "generation in a worker (Python's default is 700, kept with 0). Collections "
                    "were about a quarter of the worker's CPU on batches with the default.",
    )
    broker_session_timeout: float = Field(
        default=4.0, gt=0, description="Consumer session timeout, seconds (short: fast joins)."
    )
    broker_heartbeat_interval: float = Field(default=0.5, gt=0)
    broker_fetch_max_wait_ms: int = Field(
        default=100, ge=1, le=60_000,
        description="Longest a worker's fetch waits for records, ms. Faust fixes 1,500; the "
                    "embedded broker answers a fetch only when this runs out, so every hop of "
                    "the pipeline waited up to 1.5 s (Kafka answers as soon as records arrive).",
    )
    router_batch_max: int = Field(
        default=2000, ge=1, description="Raw messages the router takes at most per flush."
    )
    router_flush_seconds: float = Field(default=0.1, gt=0)
    writer_batch_max: int = Field(
        default=200, ge=1, description="Routed batches a writer takes at most per flush."
    )
    writer_flush_seconds: float = Field(
        default=0.1, gt=0,
        description="Longest a writer gathers routed batches before writing them. 0.1 against "
                    "0.2: freshness p99 290 against 387 ms at 2,000 readings/s, throughput the "
                    "same within the noise (docs/performance.md). The trade-off against HTTP "
                    "ingest measured earlier is gone: the gateway serves it, not the workers.")
    router_pause_lag: int = Field(
        default=50, ge=0,
        description="Routed records waiting to be handed to this worker's writers (on their "
                    "partitions of telemetry.meter and telemetry.vehicle) above which the router "
                    "stops taking telemetry.raw until they are down to half: the writers keep pace "
                    "while the router works off a backlog (issue 19; docs/performance.md). The "
                    "router makes about 2 records per partition for each 2,000 single-reading "
                    "messages, so 50 is 1-2 s of routing them; 0 never pauses the router.",
    )
    broker_max_poll_records: int = Field(
        default=2000, ge=1,
        description="Records at most in one fetch the worker's consumer hands to its agents. "
                    "Faust delivers a fetch record by record before it fetches again, so this "
                    "bounds how long a paused router goes on and how long routed records wait "
                    "behind raw ones (unbounded, one fetch held 100,000 raw messages: 20 s).",
    )
    readings_per_batch: int = Field(
        default=5000, ge=1, description="Readings at most in one routed batch message."
    )
    partitions_ahead_days: int = Field(
        default=7, ge=0, description="Daily history partitions created ahead of today."
    )
    partitions_behind_days: int = Field(
        default=7, ge=0, description="Daily history partitions created behind today."
    )
    retention_days: int = Field(
        default=0, ge=0,
        description="Drop daily history partitions older than this many days; 0 keeps all.",
    )
    partition_maintenance_seconds: float = Field(
        default=3600.0, gt=0,
        description="How often the leader worker creates partitions ahead and applies retention.",
    )
    stall_seconds: float = Field(
        default=60.0, gt=0,
        description="An agent with records waiting on its topic and no progress for this long "
                    "is stalled: /readyz answers 503 naming it and the worker exits for "
                    "redelivery (a writer retrying an unreachable database is not stalled).",
    )
    db_retry_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait between database retries."
    )
    http_max_readings: int = Field(
        default=10_000, ge=1, description="Readings at most in one POST /v1/telemetry."
    )
    http_max_bytes: int = Field(
        default=5_000_000, ge=1, description="Body size at most of one POST /v1/telemetry."
    )
    http_chunk_readings: int = Field(
        default=500, ge=1, description="Readings at most in one message published for HTTP."
    )
    http_linger_ms: float = Field(
        default=0.0, ge=0, le=50,
        description="Longest a single-reading POST waits at the gateway for others to share "
                    "its Kafka message, while they keep coming (an idle gateway sends at once). "
                    "0: no wait; readings still share a message with those that arrive while "
                    "the last ones await the broker's ack (processor/kafka/coalescer.py). "
                    "Measured under a Node.js client: 0 took 7,000 POST/s, 2 ms 5,300-5,800 "
                    "(docs/performance.md); a wait pays only where the broker's per-message "
                    "cost, not the latency, limits the gateway.")
    http_publish_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for the broker's ack before a 503."
    )
    gateway_processes: int | None = Field(
        default=None, ge=1, le=256,
        description="Processes of the HTTP gateway (they share its port); unset: half the "
                    "cores, at least one (beside the workers, the broker and PostgreSQL on one "
                    "2-core host, one process took 6,900 single POSTs/s at 162 us of CPU each, "
                    "all tiers together, two 5,200 at 269 us: docs/performance.md). A host that "
                    "runs only gateways: its core count.",
    )
    gateway_server: Literal["asyncio", "granian"] = Field(
        default="asyncio",
        description="The gateway's HTTP server: our own (asyncio, httptools, uvloop; "
                    "processor/gateway/http11.py) or Granian, the one before (RSGI).")
    worker_urls: str = Field(
        default="",
        description="Comma-separated base URLs of the workers' web servers, where the gateway "
                    "forwards every request that is not ingest (`up` sets it).",
    )
    worker_port: int = Field(
        default=3100, ge=1, le=65535,
        description="Under `up`, the first worker's own web port (127.0.0.1), the next ones "
                    "above it; users reach everything through the gateway on WEB_PORT.",
    )
    worker_advertised_url: str = Field(
        default="",
        description="The address other workers reach this worker's web server at, to ask it "
                    "for the devices whose partitions it owns; unset: http://WEB_BIND:WEB_PORT "
                    "(the host name when bound to every address).",
    )
    log_level: str = Field(default="INFO")

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        """``sasl_ssl`` and ``scram-sha-512`` mean what librdkafka and Faust spell in capitals."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password",
                     "kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (``${KAFKA_SASL_USERNAME:-}`` in a compose file) is an unset one,
        not a user called "" nor the file "." (the current directory)."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def efficiency_rules(self) -> Rules:
        return Rules(self.efficiency_threshold, self.min_charge_kwh, self.alert_hysteresis)

    @property
    def gateway_process_count(self) -> int:
        return self.gateway_processes or max(1, (os.cpu_count() or 1) // 2)

    @property
    def worker_url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.worker_urls.split(",") if u.strip()]

    @property
    def advertised_url(self) -> str:
        if self.worker_advertised_url:
            return self.worker_advertised_url.rstrip("/")
        host = self.web_bind
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return f"http://{host}:{self.web_port}"

    @property
    def bind_public(self) -> bool:
        """Whether WEB_BIND may be reached from beyond this machine."""
        return not is_loopback(self.web_bind)

    @property
    def database_dsn(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
