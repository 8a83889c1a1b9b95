"""Benchmarks of metaingest: catalog generators, a latency proxy, a reference reader, the sweep."""
