"""Faults the tests inject into a worker from outside the product: ``python -m tests.faults
FAULT ... -- worker`` installs one and runs ``energy-ingest`` with the arguments after ``--``."""
