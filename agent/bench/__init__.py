"""Benchmarks: CPU per second of input, latency distributions, memory, int8 vs float."""
