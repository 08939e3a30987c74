"""Performance harness: a synthetic national-scale data set and the figures of issue 7 beside their floors.

Run it with `.venv/bin/python -m bench.run --rows 1000000` (see bench/README.md).
"""
