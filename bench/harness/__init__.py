"""The benchmark harness behind ``bench/run.py``: sinks, ceiling, peers, scenarios, reports."""
