"""Invoke task modules, one per namespace; ``tasks.py`` at the root assembles them."""
