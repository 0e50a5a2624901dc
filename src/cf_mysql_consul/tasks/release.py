"""``release.*`` tasks."""
