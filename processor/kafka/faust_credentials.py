"""The Kafka security settings in Faust's terms: its ``broker_credentials``, which Faust hands to
every aiokafka consumer and producer it makes (``credentials_to_aiokafka_auth``).

Apart from ``security.py`` because it imports Faust: the gateway makes confluent-kafka clients
only, and must not import Faust (an import-linter contract).
"""

from __future__ import annotations

import faust
from faust.types.auth import CredentialsT

from processor.kafka.security import KafkaSecurity


def faust_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """None for PLAINTEXT (Faust's default); TLS and SASL otherwise, with the same CA, client
    certificate, mechanism and user as the confluent-kafka clients get."""
    if security.protocol == "PLAINTEXT":
        return None
    context = security.ssl_context()  # None for SASL_PLAINTEXT
    if not security.uses_sasl:
        assert context is not None
        return faust.SSLCredentials(context)
    assert security.password is not None  # KafkaSecurity checked it
    # Faust's repr of these shows the user name only; SASL_SSL when a context is given.
    return faust.SASLCredentials(username=security.username,
                                 password=security.password.get_secret_value(),
                                 mechanism=security.mechanism, ssl_context=context)
