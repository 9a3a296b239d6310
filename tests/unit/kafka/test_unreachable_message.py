"""A broker that refuses a connection's TLS or SASL is reported as such, naming the settings."""

from __future__ import annotations

from processor.kafka.topics import broker_unreachable_message

REFUSED = ("ssl://localhost:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
           "certificate verify failed: broker certificate could not be verified (after 2ms in "
           "state SSL_HANDSHAKE)")


def test_a_tls_refusal_names_the_security_settings() -> None:
    message = broker_unreachable_message("localhost:9093", ["Connection refused", REFUSED])
    assert message.startswith("Kafka at localhost:9093 refused the connection's security: "
                              "SSL handshake failed: error:0A000086")
    assert "KAFKA_SSL_CA_FILE" in message and "ssl://" not in message


def test_an_address_nobody_answers_at_says_so() -> None:
    for errors in ([], ["127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed"]):
        assert broker_unreachable_message("127.0.0.1:9092", errors).startswith(
            "cannot reach Kafka at 127.0.0.1:9092. Start the broker there")
