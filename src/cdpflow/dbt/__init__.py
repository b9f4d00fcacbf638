"""The bundled dbt project (`project/`) and what runs it: the analytics models of cdpflow."""
