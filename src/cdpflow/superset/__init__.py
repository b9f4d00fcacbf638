"""Superset for cdpflow: running a local one, its API, and the lake's tables as its datasets."""
