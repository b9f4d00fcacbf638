"""Superset dashboard export bundles: the ones cdpflow ships (package folder `dashboards/`) and the
ones users drop in $CDPFLOW_HOME/superset/dashboards/ (export zips or unpacked folders).

A bundle refers to lake tables through datasets of the cdpflow database. Before import it is
fitted to the lake: those datasets take the identity sync_superset_tables gives them (the UUID
derived from the table name) and their SQL names the table's current snapshot files, and a chart
whose table does not exist yet is left out, with its place on the dashboard. The bundle's
checksum covers its own files and what was left out, never the snapshot files, so a new snapshot
is not a new bundle but a table appearing is.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from cdpflow.errors import CdpflowError
from cdpflow.lake.tables import Snapshot
from cdpflow.settings import Settings
from cdpflow.superset.lake_datasets import DATABASE_NAME, database_uuid, dataset_uuid

SHIPPED_DIR = Path(__file__).parent / "dashboards"
METADATA = "metadata.yaml"
# what each import endpoint checks metadata.yaml's `type` against
MODEL_TYPES = {"dataset": "SqlaTable", "chart": "Slice", "dashboard": "Dashboard"}
MAX_BUNDLE_BYTES = 50_000_000


class BundleError(CdpflowError):
    """A bundle that cannot be read or imported; names its file and the reason."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"Superset bundle {source}: {reason}")


@dataclass(frozen=True)
class Bundle:
    """One export bundle: `files` maps a path inside it (no root folder) to its YAML text."""

    key: str  # stable name the import state is kept under: shipped/<name> or user/<file>
    source: str  # where it was read from, for messages
    files: dict[str, str]


@dataclass
class FittedBundle:
    """A bundle fitted to the current lake, ready to be split into imports."""

    bundle: Bundle
    configs: dict[str, dict[str, Any]]
    lake_datasets: set[str]  # uuids of datasets sync_superset_tables owns: never overwritten
    left_out: dict[str, str] = field(default_factory=dict)  # chart name -> missing table

    @property
    def checksum(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.bundle.files):
            digest.update(path.encode() + b"\0" + self.bundle.files[path].encode() + b"\0")
        for chart in sorted(self.left_out):
            digest.update(b"left out\0" + chart.encode() + b"\0")
        return digest.hexdigest()

    def of_kind(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {path: c for path, c in self.configs.items() if path.startswith(prefix)}

    @property
    def dashboards(self) -> list[str]:
        return [
            str(c.get("dashboard_title", path)) for path, c in self.of_kind("dashboards/").items()
        ]

    @property
    def charts(self) -> int:
        return len(self.of_kind("charts/"))

    def zip_for(self, kind: str) -> bytes | None:
        """The zip `/api/v1/<kind>/import/` takes: for `dataset` only the datasets cdpflow does
        not own (None when there are none); for `chart` charts with what they use; for
        `dashboard` everything."""
        keep: Callable[[str, dict[str, Any]], bool]
        if kind == "dataset":

            def keep(path: str, config: dict[str, Any]) -> bool:
                if path.startswith("datasets/"):
                    return str(config.get("uuid")) not in self.lake_datasets
                return path.startswith("databases/")

        elif kind == "chart":

            def keep(path: str, config: dict[str, Any]) -> bool:
                return not path.startswith("dashboards/")

        else:

            def keep(path: str, config: dict[str, Any]) -> bool:
                return True

        chosen = {p: c for p, c in self.configs.items() if keep(p, c)}
        main = {"dataset": "datasets/", "chart": "charts/", "dashboard": "dashboards/"}[kind]
        if not any(p.startswith(main) for p in chosen):
            return None
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            metadata = {"version": "1.0.0", "type": MODEL_TYPES[kind]}
            archive.writestr(f"bundle/{METADATA}", yaml.safe_dump(metadata))
            for path, config in sorted(chosen.items()):
                archive.writestr(f"bundle/{path}", yaml.safe_dump(config, sort_keys=False))
        return buffer.getvalue()


def user_bundle_dir(settings: Settings) -> Path:
    return settings.home / "superset" / "dashboards"


def bundle_sources(settings: Settings) -> Iterator[tuple[str, Path]]:
    """(key, path) of every bundle: the shipped ones, then the user's zips and folders."""
    for folder in sorted(SHIPPED_DIR.iterdir()):
        if (folder / METADATA).is_file():
            yield f"shipped/{folder.name}", folder
    users = user_bundle_dir(settings)
    if users.is_dir():
        for path in sorted(users.iterdir()):
            if path.suffix == ".zip" or path.is_dir():
                yield f"user/{path.name}", path


def read_bundle(key: str, path: Path) -> Bundle:
    """The bundle at `path` (a zip as Superset exports it, or a folder of the same tree)."""
    if path.is_dir():
        files = {
            PurePosixPath(p.relative_to(path).as_posix()): p.read_bytes()
            for p in sorted(path.rglob("*.yaml"))
            if p.is_file()
        }
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                if sum(i.file_size for i in archive.infolist()) > MAX_BUNDLE_BYTES:
                    raise BundleError(str(path), f"unpacks to over {MAX_BUNDLE_BYTES} bytes")
                files = {
                    PurePosixPath(name): archive.read(name)
                    for name in archive.namelist()
                    if name.endswith(".yaml")
                }
        except (zipfile.BadZipFile, OSError) as err:
            raise BundleError(str(path), f"is not a readable zip file ({err})") from None
    return Bundle(key, str(path), _from_root(str(path), files))


def _from_root(source: str, files: dict[PurePosixPath, bytes]) -> dict[str, str]:
    """Paths relative to the folder holding metadata.yaml (exports put everything under one
    root folder)."""
    roots = sorted((p.parent for p in files if p.name == METADATA), key=lambda p: len(p.parts))
    if not roots:
        raise BundleError(source, f"has no {METADATA}; is it a Superset dashboard export?")
    root = roots[0]
    texts: dict[str, str] = {}
    for path, data in files.items():
        if root != PurePosixPath(".") and root not in path.parents:
            continue
        try:
            texts[path.relative_to(root).as_posix()] = data.decode()
        except UnicodeDecodeError:
            raise BundleError(source, f"{path} is not UTF-8 text") from None
    return texts


def fit_to_lake(
    bundle: Bundle, tables: dict[str, Snapshot], sql_of: Callable[[Snapshot], str]
) -> FittedBundle:
    """The bundle with its cdpflow datasets on the lake's current tables (see module doc)."""
    configs = _parse(bundle)
    ours = database_uuid()
    cdpflow_databases = {
        str(c.get("uuid"))
        for path, c in configs.items()
        if path.startswith("databases/")
        and (str(c.get("uuid")) == ours or c.get("database_name") == DATABASE_NAME)
    } | {ours}
    renamed: dict[str, str] = {}  # a dataset uuid in the bundle -> the one cdpflow gives it
    missing: dict[str, str] = {}  # dataset uuid -> its table, not in the lake (yet)
    lake_datasets: set[str] = set()
    for path, config in list(configs.items()):
        if path.startswith("databases/") and str(config.get("uuid")) in cdpflow_databases:
            renamed[str(config["uuid"])] = ours
            config["uuid"] = ours
        if not path.startswith("datasets/"):
            continue
        if str(config.get("database_uuid")) not in cdpflow_databases:
            continue
        config["database_uuid"] = ours
        table = str(config.get("table_name", ""))
        if table in tables:
            renamed[str(config["uuid"])] = dataset_uuid(table)
            config["uuid"] = dataset_uuid(table)
            config["sql"] = sql_of(tables[table])
            lake_datasets.add(dataset_uuid(table))
        elif str(config.get("uuid")) == dataset_uuid(table):
            missing[str(config["uuid"])] = table
            del configs[path]
    left_out: dict[str, str] = {}
    dropped_charts: set[str] = set()
    for path, config in list(configs.items()):
        if not path.startswith("charts/"):
            continue
        dataset = str(config.get("dataset_uuid"))
        if dataset in missing:
            left_out[str(config.get("slice_name", path))] = missing[dataset]
            dropped_charts.add(str(config.get("uuid")))
            del configs[path]
        elif dataset in renamed:
            config["dataset_uuid"] = renamed[dataset]
    for path, config in configs.items():
        if path.startswith("dashboards/"):
            _drop_from_layout(config, dropped_charts)
            _rename_filter_targets(config, renamed, set(missing))
    return FittedBundle(bundle, configs, lake_datasets, left_out)


def _parse(bundle: Bundle) -> dict[str, dict[str, Any]]:
    configs: dict[str, dict[str, Any]] = {}
    for path, text in bundle.files.items():
        if path == METADATA or not path.startswith(
            ("databases/", "datasets/", "charts/", "dashboards/", "themes/")
        ):
            continue
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise BundleError(bundle.source, f"{path} is not valid YAML ({err})") from None
        if not isinstance(config, dict) or "uuid" not in config:
            raise BundleError(bundle.source, f"{path} is not a Superset export file (no uuid)")
        configs[path] = config
    if not any(p.startswith("dashboards/") for p in configs):
        raise BundleError(bundle.source, "holds no dashboards/*.yaml")
    return configs


def _drop_from_layout(dashboard: dict[str, Any], charts: set[str]) -> None:
    """Remove `charts` from the dashboard's layout, and rows or columns they leave empty."""
    position = dashboard.get("position")
    if not charts or not isinstance(position, dict):
        return
    gone = {
        key
        for key, node in position.items()
        if isinstance(node, dict)
        and node.get("type") == "CHART"
        and str((node.get("meta") or {}).get("uuid")) in charts
    }
    while gone:
        for key in gone:
            position.pop(key, None)
        emptied: set[str] = set()
        for key, node in position.items():
            if isinstance(node, dict) and isinstance(node.get("children"), list):
                node["children"] = [c for c in node["children"] if c not in gone]
                if not node["children"] and node.get("type") in ("ROW", "COLUMN"):
                    emptied.add(key)
        gone = emptied


def _rename_filter_targets(
    dashboard: dict[str, Any], renamed: dict[str, str], missing: set[str]
) -> None:
    """Native filters follow their datasets' new uuids; a filter on a missing table goes."""
    metadata = dashboard.get("metadata")
    if not isinstance(metadata, dict):
        return
    kept = []
    for native in metadata.get("native_filter_configuration") or []:
        targets = native.get("targets") or [] if isinstance(native, dict) else []
        if any(str(t.get("datasetUuid")) in missing for t in targets if isinstance(t, dict)):
            continue
        for target in targets:
            if isinstance(target, dict) and str(target.get("datasetUuid")) in renamed:
                target["datasetUuid"] = renamed[str(target["datasetUuid"])]
        kept.append(native)
    if "native_filter_configuration" in metadata:
        metadata["native_filter_configuration"] = kept
