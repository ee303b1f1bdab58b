"""Benchmarks (`make bench`); results land in build/bench/."""
