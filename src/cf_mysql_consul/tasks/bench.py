"""``bench.*`` tasks."""
