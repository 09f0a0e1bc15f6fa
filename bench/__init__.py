"""Benchmarks: `make bench` prints one JSON object. Never asserted as timings in tests."""
