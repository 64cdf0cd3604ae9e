"""Benchmarks: each compares Mercato with a baseline in the same run (see docs/benchmarks.md)."""
