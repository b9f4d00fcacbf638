"""PostgreSQL: the only package that imports psycopg (in `client.py`)."""
