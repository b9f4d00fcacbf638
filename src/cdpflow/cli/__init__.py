"""The `cdpflow` command: one module per command group."""
