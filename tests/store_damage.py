"""Ways a store folder gets damaged, done to real Oxigraph databases on disk, and a read-only view of a folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest


def _data_files(db: Path) -> list[Path]:
    """The database's table files, largest first."""
    return sorted(db.glob("*.sst"), key=lambda p: (-p.stat().st_size, p.name))


def _manifest(db: Path) -> Path:
    return db / (db / "CURRENT").read_text().strip()


def remove_current(db: Path) -> None:
    (db / "CURRENT").unlink()


def current_names_a_missing_manifest(db: Path) -> None:
    (db / "CURRENT").write_text("MANIFEST-999999\n")


def truncate_manifest(db: Path) -> None:
    manifest = _manifest(db)
    manifest.write_bytes(manifest.read_bytes()[: manifest.stat().st_size // 2])


def cut_manifest_inside_its_last_record(db: Path) -> None:
    """RocksDB itself reads this as the manifest without its last change."""
    manifest = _manifest(db)
    manifest.write_bytes(manifest.read_bytes()[:-1])


def truncate_data_file(db: Path) -> None:
    table = _data_files(db)[0]
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])


def garbage_data_file(db: Path) -> None:
    table = _data_files(db)[0]
    table.write_bytes(bytes((i * 151 + 7) % 256 for i in range(table.stat().st_size)))


def remove_data_file(db: Path) -> None:
    _data_files(db)[0].unlink()


def garbage_inside_data_blocks(db: Path) -> None:
    """Overwrite the middle of every table file: the database opens, reading it fails."""
    for table in _data_files(db):
        data = bytearray(table.read_bytes())
        if len(data) < 8192:
            continue
        middle = len(data) // 3
        data[middle : middle + 2048] = bytes(2048)
        table.write_bytes(bytes(data))


def database_is_a_file(db: Path) -> None:
    shutil.rmtree(db)
    db.write_text("not a database\n")


def database_folder_holds_other_files(db: Path) -> None:
    shutil.rmtree(db)
    db.mkdir()
    (db / "notes.txt").write_text("my notes\n")


#: Damage found when the store is opened, by kind.
ON_OPEN: dict[str, Callable[[Path], None]] = {
    "no-CURRENT": remove_current,
    "CURRENT-names-a-missing-MANIFEST": current_names_a_missing_manifest,
    "MANIFEST-truncated-to-half": truncate_manifest,
    "MANIFEST-cut-inside-its-last-record": cut_manifest_inside_its_last_record,
    "sst-truncated": truncate_data_file,
    "sst-garbage": garbage_data_file,
    "sst-missing": remove_data_file,
    "database-folder-is-a-file": database_is_a_file,
    "database-folder-holds-other-files": database_folder_holds_other_files,
}


def folder_digest(folder: Path) -> dict[str, str]:
    """Every file under the folder (or the file itself) with the sha256 of its bytes."""
    folder = Path(folder)
    if folder.is_file():
        return {".": hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@contextmanager
def read_only_view(folder: Path, view: Path) -> Iterator[Path]:
    """``view`` shows ``folder`` read-only: a read-only bind mount as root (chmod does not
    stop root from writing), the folder itself with its write bits removed otherwise."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            yield folder
        finally:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
        return
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount a folder here (mount --bind failed), so no read-only store to test")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount a bind mount read-only here")
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)
