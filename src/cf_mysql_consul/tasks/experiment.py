"""``experiment.*`` tasks."""
