"""Where the managed files live on a printer: the destination below its storage, and
listings seen from it. Pure; `pull` uses these too."""

from __future__ import annotations

from collections.abc import Sequence

from link_sync.core.model import RemoteEntry
from link_sync.core.planner import path_key


def strip_storage(destination: str, storage: str) -> str:
    """'usb/prints' -> 'prints' when the printer's storage is 'usb' (the original's -d form)."""
    parts = [p for p in destination.split("/") if p]
    if parts and storage and parts[0].casefold() == storage.casefold():
        parts = parts[1:]
    return "/".join(parts)


def relative_to_folder(entries: Sequence[RemoteEntry], folder: str, ci: bool) -> list[RemoteEntry]:
    """Entries below `folder`, with paths relative to it (whole components compared)."""
    if not folder:
        return list(entries)  # the storage root: paths are relative to it already
    return [entry.with_path(relative) for relative, entry in entries_below(entries, folder, ci)]


def entries_below(
    entries: Sequence[RemoteEntry], folder: str, ci: bool
) -> list[tuple[str, RemoteEntry]]:
    """(path relative to `folder`, entry as listed) for every entry below `folder`."""
    if not folder:
        return [(entry.path, entry) for entry in entries]
    prefix = path_key(folder, ci) + "/"
    return [
        (entry.path[len(prefix) :], entry)
        for entry in entries
        if path_key(entry.path, ci).startswith(prefix)
    ]


def protected_path(
    job_path: str | None, remote: Sequence[RemoteEntry], destination: str, ci: bool
) -> str | None:
    """The destination-relative path of the file being printed, if it is in there.

    Printers name the job file by long or by 8.3 short path; either matches.
    """
    if not job_path:
        return None
    wanted = path_key(job_path.strip("/"), ci)
    prefix = path_key(destination, ci) + "/" if destination else ""
    for entry in remote:
        full = path_key(prefix + entry.path, ci) if prefix else path_key(entry.path, ci)
        if names_job(wanted, full) or names_job(wanted, path_key(entry.short_path or "", ci)):
            return entry.path
    return None


def names_job(job_key: str, path_key: str) -> bool:
    """Whether a job path (as `path_key` gives it) names the file at `path_key`: the
    same path, or the same path below a storage prefix the printer put in front (the
    Pi names its job "PrusaLink gcodes/...", and a job read before the storage's label
    is known keeps it). Matching more than needed only keeps a file: the safe side."""
    if not path_key:
        return False
    return job_key == path_key or job_key.endswith("/" + path_key)
