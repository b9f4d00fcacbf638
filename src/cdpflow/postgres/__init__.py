"""PostgreSQL: the only package that imports psycopg (`client.py` for upkeep jobs, `reader.py`
for the `postgres` ELT type)."""
