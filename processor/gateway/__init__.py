"""The HTTP gateway: the tier users talk to, on WEB_PORT (3000).

Stateless processes (``GATEWAY_PROCESSES``, sharing one port) serve ``POST /v1/telemetry``
themselves: judge the readings (processor/domain/http_ingest.py), publish them to
``telemetry.raw`` and answer once the broker acked. Every other request (analytics, live state,
links, the web view, the OpenAPI document) is forwarded to a worker (``WORKER_URLS``); the
gateway's own ``/healthz``, ``/readyz`` and ``/metrics`` add the workers' answers to its own.

- ``app.py``: the RSGI application Granian serves, one per process: routing.
- ``ingest.py``: ``POST /v1/telemetry``.
- ``forward.py``: requests passed on to the workers.
- ``readiness.py``, ``exposition.py``, ``metrics.py``: operations.
- ``serve.py``: the processes (Granian) and the metrics they share.
"""
