"""Scripts/bench.py's modes: the side-by-side benchmark (compare), Redis, TLS and deflate runs,
the capacity model's inputs (scale) and the Redis Cluster figures (cluster). Every process is
started by the test suite's launchers (Tests/python) and stopped by PID."""
