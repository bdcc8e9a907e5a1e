"""Ratio benchmarks: ours vs a baseline measured in the same run (never absolute gates)."""
