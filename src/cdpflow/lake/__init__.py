"""The lake: storage, the raw landing zone, and the table registry."""
