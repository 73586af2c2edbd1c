"""Safe tar extraction: every member is checked before anything is written; links, devices and paths that
would land outside the target folder are refused."""

from __future__ import annotations

import tarfile
from pathlib import Path

from det_model.data.fetch.errors import FetchError, UnsafeArchiveError


def path_inside(root: Path, name: str, what: str) -> Path:
    """`root/name`, refusing absolute names and names that resolve outside `root`."""
    if name.startswith(("/", "\\")) or Path(name).is_absolute():
        raise UnsafeArchiveError(f"{what}: absolute path escapes the target folder")
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise UnsafeArchiveError(f"{what}: path escapes the target folder")
    return target


def safe_extract(archive: Path, dest: Path) -> int:
    """Extract a tar into `dest` after checking EVERY member; refuse links, devices and escaping paths.

    Nothing is written when any member is refused. Returns the number of regular files extracted.
    """
    if not tarfile.is_tarfile(archive):
        raise FetchError(f"{archive}: not a tar archive (tar, tar.gz, tar.bz2, tar.xz are accepted)")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            what = f"{archive.name}: member {m.name!r}"
            if not (m.isfile() or m.isdir()):
                kind = "symlink" if m.issym() else "hard link" if m.islnk() else "device or fifo"
                raise UnsafeArchiveError(f"{what} is a {kind}; only regular files and folders are accepted")
            path_inside(dest, m.name, what)
        tar.extractall(dest, members=members, filter="data")  # the stdlib filter as a second line of defence
    return sum(m.isfile() for m in members)
