"""Fault scenarios under load (issue #3): `python -m bench.faults --scenario all --profile short`.

Each scenario starts its own PostgreSQL and Redis on free ports and its own app
processes (`cluster.py`), runs conversations through clients that behave like the
real widget and console (`clients.py`) while something breaks, and judges the run
from the clients' screens and the database (`scenario.py`). Figures:
docs/reliability.md.
"""
