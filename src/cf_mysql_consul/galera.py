"""Galera's ``wsrep_local_state`` values that the proxy, the lab's healthcheck and galera-drain judge by."""

DONOR = 2
"""Donor/Desynced: feeding a joining node (mariabackup donors keep serving)."""
SYNCED = 4
"""Synced: caught up with the group."""
