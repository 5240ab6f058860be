"""Benchmarks: ratios measured within one run (ours vs a baseline, same input, same cores)."""
