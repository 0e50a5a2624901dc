"""``bosh.*`` tasks."""
