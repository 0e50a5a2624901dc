"""Chaos campaigns on the lab: a seeded schedule of faults under client writes, invariants checked throughout."""
