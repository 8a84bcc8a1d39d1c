"""Benchmarks: scripts that report speed against a baseline measured in the same run.

They print tables; they never gate (see benchmarks/README.md).
"""
