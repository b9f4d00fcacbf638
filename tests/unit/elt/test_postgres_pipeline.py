"""`postgres` pipeline files are checked at load; an unreachable server is a retryable error."""

from __future__ import annotations

import pytest

from cdpflow.declared import DeclarationError
from cdpflow.elt.config import load_pipeline
from cdpflow.elt.job import run
from cdpflow.errors import TerminalError, TransientError
from cdpflow.jobs import Interval
from cdpflow.settings import Settings


def _write(settings: Settings, text: str) -> None:
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crm.yml").write_text(text)


URL = "url: postgresql://crm@127.0.0.1:1/crm\n"


def test_a_postgres_file_reads_tables_and_queries(settings):
    _write(
        settings,
        f"type: postgres\n{URL}password_secret: crm_pw\nresources:\n"
        "  contacts: {table: contacts, primary_key: id, cursor: updated_at}\n"
        "  deals: {query: 'SELECT * FROM deals;', primary_key: [id, version]}\n",
    )
    pipeline = load_pipeline(settings, "crm")
    assert pipeline.options == {
        "url": "postgresql://crm@127.0.0.1:1/crm",
        "password_secret": "crm_pw",
    }
    contacts, deals = pipeline.resources
    assert contacts.options == {"table": "public.contacts"}
    assert deals.options == {"query": "SELECT * FROM deals"}
    assert deals.primary_key == ("id", "version")


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("url: mysql://crm@db/crm\n", "url", "must be a URL postgresql://"),
        (URL + "password_secret: 'pw 123'\n", "password_secret", "must name a secret"),
        (URL + "user: crm\n", "user", "unknown key for type postgres"),
    ],
)
def test_a_bad_top_level_key_fails_at_load(settings, text, key, says):
    _write(settings, f"type: postgres\n{text}resources:\n  c: {{table: c, primary_key: id}}\n")
    with pytest.raises(DeclarationError, match=says) as failed:
        load_pipeline(settings, "crm")
    assert failed.value.key == key


@pytest.mark.parametrize(
    ("resource", "key", "says"),
    [
        ("{primary_key: id}", "resources[0]", "either `table: schema.name` or `query"),
        ("{table: c, query: SELECT 1, primary_key: id}", "resources[0]", "either"),
        ("{table: 'crm.', primary_key: id}", "resources[0].table", "must be `schema.name`"),
        ("{query: '  ', primary_key: id}", "resources[0].query", "must be a SELECT"),
        ("{path: c.csv, primary_key: id}", "resources[0].path", "unknown key"),
    ],
)
def test_a_bad_resource_fails_at_load(settings, resource, key, says):
    _write(settings, f"type: postgres\n{URL}resources:\n  c: {resource}\n")
    with pytest.raises(DeclarationError, match=says) as failed:
        load_pipeline(settings, "crm")
    assert failed.value.key == key


def test_an_unreachable_server_is_transient_and_a_missing_secret_terminal(settings):
    _write(settings, f"type: postgres\n{URL}resources:\n  c: {{table: c, primary_key: id}}\n")
    with pytest.raises(TransientError, match="Pipeline `crm` resource `c`: could not connect"):
        run(settings, Interval(), name="crm")
    _write(
        settings,
        f"type: postgres\n{URL}password_secret: crm_pw\n"
        "resources:\n  c: {table: c, primary_key: id}\n",
    )
    with pytest.raises(TerminalError, match=r"secret `crm_pw`.*`cdpflow secrets set crm_pw`"):
        run(settings, Interval(), name="crm")
