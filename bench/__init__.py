"""Benchmarks, not timed tests: `python -m bench.<name>` (see bench/README.md)."""
