"""Benchmarks: our code vs the reference, side by side in one run, as ratios (`make bench`)."""
