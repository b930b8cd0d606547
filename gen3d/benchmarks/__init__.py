"""The tasks of ``tools/benchmark.py``: speed and quality benchmarks that print a table."""
