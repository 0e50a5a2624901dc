"""Benchmarks: the proxy against HAProxy and a direct connection, failover outage (``bench.*``)."""
