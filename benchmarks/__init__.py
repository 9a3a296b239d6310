"""The benchmark harness (issue 6): ``python -m benchmarks [--quick] [--only SECTION,...]``.

Measurement only. Each run starts its own embedded broker and PostgreSQL in a temporary
directory, never touches ``.energy/``, prints a table of figures against their targets and
writes ``benchmarks/results/latest.json``. See docs/performance.md.
"""
