"""Benchmark harness: the same workloads against our server and the real Restate server 1.7.12.

Run with `make bench` (or `.venv/bin/python -m bench --help`); see README.md, "Benchmarks".
Each round starts a fresh server and a fresh official-SDK service (tests/services/bench.py under
hypercorn), registers it over h2c, runs the workloads and stops both; rounds alternate ours/real.
"""
