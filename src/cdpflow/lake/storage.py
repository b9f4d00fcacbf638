"""The lake's storage: a local folder, or any fsspec filesystem, rooted at the lake URL.

Every file operation above this module goes through `Lake`, so a local path and an `s3://` (or
any fsspec) URL run the same code. Writes are published atomically: a reader sees the whole file
or no file, never a partial one.

Writers that make files for a table leave them first in the lake's own staging folder
(`_staging/<job>/<run>/`, see `staging_dir`): an engine whose writers run elsewhere (Spark's
executors) can write there, and `lake.tables.promote` moves a staged file into its table with a
rename within the lake.
"""

from __future__ import annotations

import errno
import functools
import os
import posixpath
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a lake needs it: a local lake never does on a job's hot path
    import fsspec
    import pyarrow as pa

STAGING_DIR = "_staging"
RESERVED_DIRS = frozenset({"raw", STAGING_DIR, "_trash", "_views"})


def staging_dir(job: str) -> str:
    """A fresh lake folder (lake-relative, not yet made) for the files one run of `job` stages;
    the run removes it when done, cleanup_temp_tables what a killed run left."""
    return f"{STAGING_DIR}/{job}/{uuid.uuid4().hex}"


class Lake:
    """A lake rooted at a local path or fsspec URL; paths given to methods are relative to it.

    A local lake is worked on with `os` (fsspec is imported only if something asks for `fs`):
    its calls cost several times less, and importing fsspec is a sixth of a worker process's
    start-up.
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self._storage_options = storage_options or {}
        local = None if self._storage_options else local_root(url)
        self.is_local = local is not None
        if local is not None:
            self.root = local
            return
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        fs, root = fsspec.core.url_to_fs(url, **self._storage_options)
        self.__dict__["fs"] = fs
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(fs, LocalFileSystem)

    @functools.cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The lake's fsspec filesystem (a local lake's is made when first asked for)."""
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem()

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    def full(self, rel: str) -> str:
        """Path on the filesystem (no protocol) of a lake-relative path."""
        return posixpath.join(self.root, rel) if rel else self.root

    def uri(self, rel: str) -> str:
        """A path an engine can open: local path, or protocol-qualified URL."""
        full = self.full(rel)
        if self.is_local:
            return full
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{full.lstrip('/')}"

    def exists(self, rel: str) -> bool:
        if self.is_local:
            return os.path.exists(self.full(rel))
        return bool(self.fs.exists(self.full(rel)))

    def makedirs(self, rel: str) -> None:
        if self.is_local:
            os.makedirs(self.full(rel), exist_ok=True)
            return
        self.fs.makedirs(self.full(rel), exist_ok=True)

    def listdir(self, rel: str) -> list[str]:
        """Names (not paths) directly under `rel`; empty when it does not exist."""
        full = self.full(rel)
        if self.is_local:  # the raw zone's thousands of folders: os is several times fsspec
            if os.path.isdir(full):
                return sorted(os.listdir(full))
            return [posixpath.basename(full)] if os.path.lexists(full) else []
        if not self.fs.exists(full):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(full, detail=False))

    def walk_files(self, rel: str) -> Iterator[tuple[str, int]]:
        """(lake-relative path, size) of every file below `rel`, in path order."""
        full = self.full(rel)
        if self.is_local:
            prefix = self.root.rstrip("/") + "/"
            for path, size in _local_files(full):
                yield path[len(prefix) :], size
            return
        if not self.fs.exists(full):
            return
        for path, info in sorted(self.fs.find(full, detail=True).items()):
            if info.get("type") == "file":
                yield posixpath.relpath(path, self.root), int(info.get("size") or 0)

    def size(self, rel: str) -> int:
        if self.is_local:
            return os.stat(self.full(rel)).st_size
        return int(self.fs.size(self.full(rel)))

    def read_bytes(self, rel: str) -> bytes:
        if self.is_local:
            with open(self.full(rel), "rb") as handle:
                return handle.read()
        return bytes(self.fs.cat_file(self.full(rel)))

    def open(self, rel: str, mode: str = "rb") -> IO[Any]:
        if self.is_local:
            return open(self.full(rel), mode)
        return self.fs.open(self.full(rel), mode)  # type: ignore[no-any-return]

    def read_parquet(self, rel: str, schema: pa.Schema | None = None) -> pa.Table:
        """The Parquet file at `rel` as a table (read as `schema` when given); closed after."""
        import pyarrow.parquet as pq

        with self.open(rel, "rb") as handle:
            return pq.read_table(handle, schema=schema)

    def remove(self, rel: str) -> None:
        """Delete a file or a folder with all below it; nothing when it is not there."""
        full = self.full(rel)
        if self.is_local:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            elif os.path.lexists(full):
                os.unlink(full)
            return
        if self.fs.exists(full):
            self.fs.rm(full, recursive=True)

    @contextmanager
    def atomic_writer(self, rel: str) -> Iterator[IO[bytes]]:
        """Write to a hidden temporary name and publish under `rel` only when complete.

        Locally the data is fsync'd before the rename so an acknowledged file survives a crash;
        object stores publish an object only when its upload completes.
        """
        parent, name = posixpath.split(rel)
        tmp = posixpath.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
        self.makedirs(parent)
        handle = self.open(tmp, "wb")
        try:
            yield handle
            if self.is_local:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                os.replace(self.full(tmp), self.full(rel))
                fsync_dir(self.full(parent))
            else:
                handle.close()
                self.fs.mv(self.full(tmp), self.full(rel))
        except BaseException:
            handle.close()
            self.remove(tmp)
            raise

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.atomic_writer(rel) as handle:
            handle.write(data)

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Publish `data` under `rel` only if nothing is there yet; False when something is.

        Locally this is a hard link of a complete temporary file (atomic and exclusive); object
        stores check first, which is good enough with one writer per table (the jobs hold a lock).
        """
        if not self.is_local:
            if self.exists(rel):
                return False
            self.write_bytes(rel, data)
            return True
        parent, name = posixpath.split(self.full(rel))
        os.makedirs(parent, exist_ok=True)
        tmp = posixpath.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, self.full(rel))
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        fsync_dir(parent)
        return True

    def move(self, src: str, dst: str) -> None:
        """Rename a finished file within the lake, from `src` to `dst` (both lake-relative).

        Locally an atomic rename, the data fsync'd first as `put` does. On an object store a
        copy then a delete: the target is published only when its copy completes, so a reader
        still never sees part of it.
        """
        if not self.is_local:
            self.fs.mv(self.full(src), self.full(dst))
            return
        source, target = self.full(src), self.full(dst)
        os.makedirs(posixpath.dirname(target), exist_ok=True)
        with open(source, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(source, target)

    def put(self, local_path: Path, rel: str) -> None:
        """Move a finished local file into the lake under `rel`, atomically.

        A rename when the file is on the lake's filesystem; otherwise (the lake on another
        disk or a network mount: a rename fails with EXDEV) a copy under a hidden name beside
        the target, fsync'd, then renamed within the lake, so a reader never sees part of it.
        """
        if self.is_local:
            target = self.full(rel)
            parent = posixpath.dirname(target)
            os.makedirs(parent, exist_ok=True)
            with open(local_path, "rb+") as handle:
                os.fsync(handle.fileno())
            try:
                os.replace(local_path, target)
            except OSError as err:
                if err.errno != errno.EXDEV:
                    raise
                self._copy_in(local_path, target)
            return
        with self.atomic_writer(rel) as out, open(local_path, "rb") as src:
            while block := src.read(8 << 20):
                out.write(block)
        local_path.unlink()

    @staticmethod
    def _copy_in(local_path: Path, target: str) -> None:
        """Copy a file from another filesystem to `target`: a hidden name in the target's
        folder, fsync'd, then a rename there (atomic, as it is within one filesystem)."""
        parent, name = posixpath.split(target)
        tmp = posixpath.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(local_path, "rb") as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 8 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fsync_dir(parent)
        local_path.unlink()


_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def local_root(url: str) -> str | None:
    """The folder a lake URL names on this machine, as fsspec's local filesystem names it
    (absolute, `~` expanded, no trailing slash), or None for any other filesystem."""
    path = url
    for prefix in ("file://", "local://", "file:", "local:"):
        if url.startswith(prefix):
            path = url.removeprefix(prefix)
            break
    else:
        if "::" in url or _URL_SCHEME.match(url):
            return None
    if path.startswith("~"):
        path = os.path.expanduser(path)
    elif not path.startswith("/"):
        path = f"{os.getcwd()}/{'' if path == '.' else path.removeprefix('./')}"
    return path.rstrip("/") or "/"


def _local_files(top: str) -> list[tuple[str, int]]:
    """(path, size) of every regular file at or below `top`, symlinks followed as fsspec's
    local filesystem does, sorted by path; files that vanish while listed are left out."""
    if os.path.isfile(top):
        return [(top, os.stat(top).st_size)]
    found: list[tuple[str, int]] = []
    folders = [top] if os.path.isdir(top) else []
    while folders:
        with suppress(FileNotFoundError), os.scandir(folders.pop()) as entries:
            for entry in entries:
                with suppress(FileNotFoundError):
                    if entry.is_dir():
                        folders.append(entry.path)
                    elif entry.is_file():
                        found.append((entry.path, entry.stat().st_size))
    return sorted(found)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in `path` survive a crash (the directory entry itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
