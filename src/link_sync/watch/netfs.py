"""Is a folder on a network filesystem? There, inotify sees only local changes.

CIFS/SMB and NFS shares deliver no events for files written by other machines
(a slicer on a desktop saving to the NAS), so `watch` polls such a master.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Filesystem types (as in /proc/mounts) whose changes may come from other machines.
NETWORK_FS_TYPES: frozenset[str] = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb3",
        "smbfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "davfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.glusterfs",
        "fuse.ceph",
    }
)


def filesystem_type(folder: Path, mounts: str) -> str | None:
    """The type of the filesystem holding `folder`, from /proc/mounts text (longest mount point)."""
    target = os.path.abspath(folder)
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        # /proc/mounts escapes spaces and tabs in mount points as octal (\040, \011).
        point = fields[1].encode().decode("unicode_escape")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), fields[2])
    return best[1] if best else None


def is_network_fs(folder: Path, mounts_file: Path = Path("/proc/mounts")) -> bool:
    """True when `folder` (symlinks resolved) lies on a network filesystem."""
    try:
        mounts = mounts_file.read_text(errors="replace")
        real = Path(os.path.realpath(folder))
    except OSError:
        return False
    kind = filesystem_type(real, mounts)
    return kind is not None and kind.lower() in NETWORK_FS_TYPES
