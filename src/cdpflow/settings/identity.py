"""How id_stitching links people: the mapping file of offline sources, which click ids are edges,
the cap that holds over-linked identifiers out of merges, and values that never link.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdpflow.settings import parse
from cdpflow.settings.declare import setting


@dataclass(frozen=True)
class IdentitySettings:
    """The identity graph's inputs and guards."""

    id_mapping_file: str = setting(
        "CDPFLOW_ID_MAPPING_FILE",
        "",
        parse.optional_path,
        "YAML declaring offline identity sources and id types (default"
        " $CDPFLOW_HOME/identity.yaml if present, else the sample shop export's mapping).",
    )
    id_click_ids: tuple[str, ...] = setting(
        "CDPFLOW_ID_CLICK_IDS",
        "",
        parse.click_ids,
        "Ad click ids that are identity edges (e.g. `gclid,fbclid`); none by default.",
    )
    id_max_links: int = setting(
        "CDPFLOW_ID_MAX_LINKS",
        "10",
        parse.whole_number(1, "identifiers"),
        "An identifier linked to more identifiers of one person-level type (user_id, email,"
        " phone, ...) than this is held out of merges and reported as a conflict.",
    )
    id_blocklist: tuple[str, ...] = setting(
        "CDPFLOW_ID_BLOCKLIST",
        "",
        parse.values,
        "Comma-separated identifier values that never link people (added to the built-in junk"
        " values such as `null`, `undefined`, `test@example.com`).",
    )
