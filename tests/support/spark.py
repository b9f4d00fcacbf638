"""Spark for the parity tests: skipped without PySpark or Java; small local settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.ports import free_port

# two shuffle partitions and a small driver: local[2] on a 2-core machine
SPARK_CONF = {"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "512m"}


def require_spark() -> None:
    """Skip the calling module unless PySpark and Java are installed."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17", allow_module_level=True)


@contextmanager
def standalone_cluster(work: Path, cores: int = 2) -> Iterator[str]:
    """A Spark standalone cluster on loopback — a master and one worker started with PySpark's
    own `spark-class` — for the duration of the block; yields its `spark://` URL."""
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_NO_DAEMONIZE": "1",
    }
    port, ui = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(spark_home / "bin" / "spark-class")
    work.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    try:
        for name, args in (
            ("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                        "--port", str(port), "--webui-port", str(ui)]),
            ("worker", ["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                        "--cores", str(cores), "--memory", "2g", "--webui-port",
                        str(free_port()), "--work-dir", str(work / "worker")]),
        ):  # fmt: skip
            with (work / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
                procs.append(
                    subprocess.Popen([spark_class, *args], env=env, stdout=log, stderr=log)
                )
            if name == "master":
                _wait(lambda: _master_state(ui) is not None, work / "master.log")
        _wait(lambda: (_master_state(ui) or {}).get("aliveworkers", 0) >= 1, work / "worker.log")
        yield url
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _master_state(ui: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as response:
            return dict(json.load(response))
    except OSError:
        return None


def _wait(ready: Callable[[], bool], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Spark did not start in {timeout:.0f} s:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.5)
