"""One generated DAG file per declared file, kept in step with the files."""

from __future__ import annotations

import os

from cdpflow.airflow.dag_factory import DAGS_FOLDER
from cdpflow.airflow.declared import prepare_dags_folder, sync_declared_dags
from cdpflow.declared import Family
from cdpflow.settings import Settings

PIPELINES = Family("elt", "pipelines", "pipeline", "json:loads", "json:dumps")


def test_each_declared_file_gets_its_dag_file_and_loses_it_when_removed(tmp_path):
    settings = Settings(home=tmp_path)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "shop.yml").write_text("type: files\n")
    (tmp_path / "pipelines" / "crm.yml").write_text("type: postgres\n")
    folder = prepare_dags_folder(settings, (PIPELINES,))
    assert os.readlink(folder / "cdpflow") == str(DAGS_FOLDER)
    generated = folder / "declared"
    assert sorted(p.name for p in generated.glob("*.py")) == ["elt_crm.py", "elt_shop.py"]
    assert 'declared_dag("elt_shop")' in (generated / "elt_shop.py").read_text()

    (generated / "mine.py").write_text("# a user's own DAG file\n")
    (tmp_path / "pipelines" / "crm.yml").unlink()
    assert sync_declared_dags(settings, (PIPELINES,)) == ["elt_crm"]
    assert sorted(p.name for p in generated.glob("*.py")) == ["elt_shop.py", "mine.py"]
    assert sync_declared_dags(settings, (PIPELINES,)) == []  # nothing to do: nothing rewritten
