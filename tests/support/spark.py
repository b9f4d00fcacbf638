"""Spark for the parity tests: skipped without PySpark or Java; small local settings."""

from __future__ import annotations

import shutil

import pytest

# two shuffle partitions and a small driver: local[2] on a 2-core machine
SPARK_CONF = {"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "512m"}


def require_spark() -> None:
    """Skip the calling module unless PySpark and Java are installed."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17", allow_module_level=True)
