"""cdpflow: a self-hosted customer data platform pipeline over a Parquet lake."""

__version__ = "0.1.0"
