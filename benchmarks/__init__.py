"""Benchmarks: ratios measured within one run (zhvec vs a baseline, same input, same cores)."""
