"""Which delivery errors make the HTTP publisher build a new producer."""

from __future__ import annotations

from confluent_kafka import KafkaError

from processor.kafka.publisher import needs_new_producer


def test_a_lost_producer_id_or_timed_out_messages_rebuild_the_producer() -> None:
    for code in (KafkaError.UNKNOWN_PRODUCER_ID, KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
                 KafkaError.INVALID_PRODUCER_EPOCH, KafkaError._MSG_TIMED_OUT):
        assert needs_new_producer(KafkaError(code))
    assert needs_new_producer(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, fatal=True))


def test_an_ack_or_an_error_of_the_message_itself_keeps_it() -> None:
    assert not needs_new_producer(None)
    assert not needs_new_producer(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    assert not needs_new_producer(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
