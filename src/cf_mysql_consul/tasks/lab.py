"""``lab.*`` tasks: the local lab (placeholder until the lab lands)."""
