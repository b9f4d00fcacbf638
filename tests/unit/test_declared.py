"""Declared files: names, DAG ids, the job behind a DAG id, and errors naming the file."""

from __future__ import annotations

import pytest

from cdpflow.declared import DeclarationError, Family, declared_job, family_of, read_declaration
from cdpflow.errors import TerminalError
from cdpflow.settings import Settings

PIPELINES = Family("elt", "pipelines", "pipeline", "json:loads", "json:dumps")


def test_dag_ids_come_from_file_names_and_map_back_to_their_family(tmp_path):
    settings = Settings(home=tmp_path)
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "shop.yml").write_text("type: files\n")
    (folder / "crm-eu.yml").write_text("type: postgres\n")
    (folder / "Not A Name.yml").write_text("type: files\n")
    assert PIPELINES.names(settings) == ["crm-eu", "shop"]
    assert PIPELINES.misnamed(settings) == [folder / "Not A Name.yml"]
    assert family_of("elt_crm-eu", (PIPELINES,)) == (PIPELINES, "crm-eu")
    with pytest.raises(KeyError):
        family_of("activation_shop", (PIPELINES,))


def test_the_job_of_a_missing_file_names_the_file_and_the_declared_ones(tmp_path):
    settings = Settings(home=tmp_path)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "shop.yml").write_text("type: files\n")
    assert declared_job("elt_shop", settings, (PIPELINES,)).keywords == {"name": "shop"}
    with pytest.raises(TerminalError, match=r"No pipeline `crm`: .*crm\.yml .*declared: shop"):
        declared_job("elt_crm", settings, (PIPELINES,))


def test_a_file_that_is_not_yaml_or_not_a_mapping_names_the_file_and_line(tmp_path):
    broken = tmp_path / "shop.yml"
    broken.write_text("type: files\nresources: [customers\n")
    with pytest.raises(DeclarationError, match=r"shop\.yml: not valid YAML \(line 3\)") as err:
        read_declaration(broken)
    assert err.value.path == broken
    listed = tmp_path / "list.yml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(DeclarationError, match="must be a mapping"):
        read_declaration(listed)
    assert str(DeclarationError(broken, "resources[1].primary_key", "is required")) == (
        f"`resources[1].primary_key` in {broken}: is required"
    )
