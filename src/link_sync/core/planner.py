"""Decide what to do on one printer: a pure function of what is known.

Inputs are the master's files, the printer's listing of the managed
destination, the journal's memory of earlier uploads and the local content
hashes the journal asked for. No I/O happens here, so every rule can be tested
with a table. Where neither the journal nor the timestamps decide whether a
file is stale and the listing carries no size (Buddy firmware), the plan asks
for that file's size (`Plan.needs_stat`) and is made again once it is known.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from link_sync.core.model import LocalFile, Op, RemoteEntry, is_print_file
from link_sync.engine.journal import JournalEntry


@dataclass(frozen=True, slots=True)
class Action:
    """One change on a printer. `path` is relative to the managed destination."""

    op: Op
    path: str
    local: LocalFile | None = None
    #: what a replace or delete removes: the printer's entry as listed
    remote: RemoteEntry | None = None
    #: why the file is (re)sent, for `-v` and the plan listing
    reason: str = ""
    #: the bytes that go out when not the master file's: a file sent as binary G-code
    #: (`send_as: bgcode`), once its conversion is known
    sent_bytes: int | None = None

    @property
    def bytes(self) -> int:
        """The bytes this transfer sends (0 for other changes)."""
        if self.local is None or not self.op.transfers:
            return 0
        return self.local.size if self.sent_bytes is None else self.sent_bytes


@dataclass(frozen=True, slots=True)
class Problem:
    """A file that cannot be synced to this printer, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class InSync:
    """A file found identical on the printer; the journal should remember it."""

    local: LocalFile
    remote: RemoteEntry


@dataclass(slots=True)
class Plan:
    """Everything to do on one printer, in the order it must happen."""

    mkdirs: list[Action] = field(default_factory=list)
    transfers: list[Action] = field(default_factory=list)  # uploads and replaces
    deletes: list[Action] = field(default_factory=list)
    rmdirs: list[Action] = field(default_factory=list)
    #: files this printer cannot hold (unsupported type): reported, never sent
    skipped: list[Problem] = field(default_factory=list)
    #: files refused before sending (bad names, collisions): each one fails
    refused: list[Problem] = field(default_factory=list)
    #: the file being printed, stale or not in the master: left as it is for now,
    #: so the printer is not in line with the master after this run
    kept: list[Problem] = field(default_factory=list)
    #: files found in sync without the journal's word: remember them
    confirmed: list[InSync] = field(default_factory=list)
    #: remote paths whose size must be fetched before the plan can be final
    needs_stat: list[str] = field(default_factory=list)
    #: local files to hash (with which algorithm) before the plan can be final
    needs_hash: list[tuple[LocalFile, str]] = field(default_factory=list)
    unchanged: int = 0
    #: the master files the plan was made for, as this printer holds them (with
    #: `send_as: bgcode`, a plain file whose `.bgcode` the master holds too is not one)
    files: int = 0

    @property
    def wanted(self) -> int:
        """How many master files the printer is meant to hold (not the skipped ones)."""
        return self.files - len(self.skipped)

    @property
    def actions(self) -> list[Action]:
        return [*self.mkdirs, *self.transfers, *self.deletes, *self.rmdirs]

    @property
    def is_final(self) -> bool:
        """False while sizes or hashes are still needed to decide."""
        return not self.needs_stat and not self.needs_hash


@dataclass(frozen=True, slots=True)
class PlanRules:
    """The knobs of the planner for one printer."""

    #: seconds a master file may be newer than the printer's copy and still count as
    #: the same; no default here: the caller passes the config's (`Config.stale_after`)
    stale_after: float
    case_insensitive: bool = False
    extensions: frozenset[str] = frozenset()
    delete: bool = True
    mkdir_before_upload: bool = False
    #: destination-relative path of the file of an active print: never replaced or
    #: deleted (a stale or excess one is reported in `Plan.kept`)
    protected: str | None = None
    #: master paths that could not be read (dead symlink, unreadable folder):
    #: nothing at or below them is deleted, since we cannot know what belongs there
    unreadable: tuple[str, ...] = ()


def path_key(path: str, case_insensitive: bool) -> str:
    """How two paths are compared on this printer (FAT folds case)."""
    return path.casefold() if case_insensitive else path


def make_plan(
    local: Sequence[LocalFile],
    remote: Sequence[RemoteEntry],
    journal: Mapping[str, JournalEntry],
    rules: PlanRules,
    *,
    local_hashes: Mapping[tuple[str, str], str] | None = None,
    stat_results: Mapping[str, RemoteEntry | None] | None = None,
    name_problems: Mapping[str, str] | None = None,
    not_wanted: Mapping[str, str] | None = None,
) -> Plan:
    """Compare the master with the printer and list what to do.

    `remote` paths are relative to the managed destination. `journal` is keyed
    by `path_key`; `local_hashes` by (local path, algorithm) with values like
    "sha256:<hex>"; `stat_results` by remote path (None: the file is gone since
    the listing, so it is planned as missing).
    `name_problems` maps local paths the printer would refuse to the reason.
    `not_wanted` maps master paths this printer is not meant to hold (sliced for another
    model or nozzle) to the reason: they are skipped, and where the printer holds them
    they are excess like any file not in the master.
    """
    hashes: Mapping[tuple[str, str], str] = local_hashes or {}
    stats = stat_results or {}
    problems = name_problems or {}
    routed_away = not_wanted or {}
    ci = rules.case_insensitive
    plan = Plan(files=len(local))
    protected_key = path_key(rules.protected, ci) if rules.protected else None

    remote_files: dict[str, RemoteEntry] = {}
    remote_dirs: dict[str, RemoteEntry] = {}
    for entry in remote:
        key = entry.path.casefold() if ci else entry.path
        (remote_dirs if entry.is_dir else remote_files)[key] = entry

    if routed_away:
        for file in local:
            if file.path in routed_away:
                plan.skipped.append(Problem(file.path, routed_away[file.path]))
        local = [file for file in local if file.path not in routed_away]
    keys = [file.path.casefold() for file in local] if ci else [file.path for file in local]
    wanted_keys: set[str] = set(keys)
    colliding = _case_collisions(local, keys) if ci else set()
    needed_dirs: dict[str, str] = {}
    extensions = rules.extensions

    for file, key in zip(local, keys, strict=True):
        if _extension(file.path) not in extensions:
            plan.skipped.append(Problem(file.path, UNSUPPORTED_TYPE))
            continue
        if colliding and key in colliding:
            plan.refused.append(
                Problem(file.path, "another master file differs only in letter case")
            )
            continue
        if problems and file.path in problems:
            plan.refused.append(Problem(file.path, problems[file.path]))
            continue

        existing = remote_files.get(key)
        if stats and existing is not None and existing.path in stats:
            existing = stats[existing.path]
        if existing is None:
            if key in remote_dirs:
                plan.refused.append(Problem(file.path, "a folder of that name is on the printer"))
                continue
            plan.transfers.append(Action(Op.UPLOAD, file.path, local=file, reason="missing"))
            for folder in _parents(file.path):
                folder_key = path_key(folder, ci)
                if folder_key not in remote_dirs:
                    needed_dirs.setdefault(folder_key, folder)
            continue
        if existing.read_only:
            plan.refused.append(Problem(file.path, "read-only on the printer"))
            continue

        record = journal.get(key)
        if (
            record is not None
            and record.local_size == file.size
            and record.local_mtime_ns == file.mtime_ns
            and _remote_matches_record(existing, record)
        ):
            # `_compare`'s first verdict, decided here: a run that finds the farm in
            # sync asks it for every file on every printer.
            plan.unchanged += 1
            continue
        match _compare(file, existing, record, hashes, rules):
            case Known.SAME:
                plan.unchanged += 1
            case Known.CONFIRMED:
                plan.unchanged += 1
                plan.confirmed.append(InSync(file, existing))
            case Known.NEED_SIZE:
                plan.needs_stat.append(existing.path)
            case NeedHash(algorithm):
                plan.needs_hash.append((file, algorithm))
            case Stale() if key == protected_key:
                plan.kept.append(Problem(file.path, KEPT_STALE))
            case Stale(reason):
                plan.transfers.append(
                    Action(Op.REPLACE, file.path, local=file, remote=existing, reason=reason)
                )

    if rules.mkdir_before_upload:
        # parents before children: sorted paths put "a" before "a/b"
        for folder_key in sorted(needed_dirs):
            plan.mkdirs.append(Action(Op.MKDIR, needed_dirs[folder_key]))

    if rules.delete:
        reasons = {path_key(path, ci): reason for path, reason in routed_away.items()}
        _plan_deletes(plan, remote_files, remote_dirs, wanted_keys, protected_key, rules, reasons)
    return plan


JOURNAL_HASH = "sha256"

#: Why a file of a type the printer cannot store is skipped (`Plan.skipped`).
UNSUPPORTED_TYPE = "this printer cannot store this file type"

#: Why a `.bgcode` on the printer is replaced by the master file's conversion.
UNKNOWN_CONVERSION = "its binary form on the printer is not one link-sync sent"

# Why the file of an active print is kept as it is (`Plan.kept`).
KEPT_STALE = "being printed; the master's version goes on after the print"
KEPT_EXCESS = "being printed; not in the master, it is deleted after the print"


class Known(Enum):
    """Verdicts of `_compare` that send nothing."""

    SAME = "same"  # the journal vouches for the printer's copy
    CONFIRMED = "confirmed"  # identical, but new to the journal: remember it
    NEED_SIZE = "need size"  # undecided until the printer tells the file's size


@dataclass(frozen=True, slots=True)
class NeedHash:
    """Undecided until the master file's hash with `algorithm` is known."""

    algorithm: str


@dataclass(frozen=True, slots=True)
class Stale:
    """The printer's copy must be replaced, and why."""

    reason: str


Verdict = Known | NeedHash | Stale


def _compare(
    file: LocalFile,
    remote: RemoteEntry,
    record: JournalEntry | None,
    hashes: Mapping[tuple[str, str], str],
    rules: PlanRules,
) -> Verdict:
    """Whether `remote` holds what `file` is, or what is needed to tell."""
    if record is not None and _remote_matches_record(remote, record):
        # The printer still holds what link-sync sent: only a local change counts,
        # so clock skew and the firmware's timestamp bugs cannot cause re-uploads.
        if record.local_size == file.size and record.local_mtime_ns == file.mtime_ns:
            return Known.SAME
        if record.local_size != file.size:
            return Stale("changed size")
        # Same size, other mtime (touched, or restored from a backup): the hash decides.
        local_hash = hashes.get((file.path, JOURNAL_HASH))
        if local_hash is None:
            return NeedHash(JOURNAL_HASH)
        return Known.SAME if local_hash == record.content_hash else Stale("changed content")

    # The journal has no word on this file (or the printer's copy changed since):
    # fall back to what the listing shows.
    if file.converted_from is not None:
        # The printer's copy is binary: neither its size nor its hash is the master
        # file's, and only the journal knows which conversion it is.
        return Stale(UNKNOWN_CONVERSION)
    if remote.content_hash is not None:
        algorithm = remote.content_hash.split(":", 1)[0]
        local_hash = hashes.get((file.path, algorithm))
        if local_hash is None:
            return NeedHash(algorithm)
        return Known.CONFIRMED if local_hash == remote.content_hash else Stale("changed content")
    if remote.size is not None and remote.size != file.size:
        return Stale("size differs")
    if remote.mtime is not None and file.mtime > remote.mtime + rules.stale_after:
        return Stale("newer in master")
    if remote.size is None:
        return Known.NEED_SIZE
    return Known.CONFIRMED


def _remote_matches_record(remote: RemoteEntry, record: JournalEntry) -> bool:
    sizes_known = remote.size is not None and record.remote_size is not None
    if sizes_known and remote.size != record.remote_size:
        return False
    if remote.mtime is not None and record.remote_mtime is not None:
        return abs(remote.mtime - record.remote_mtime) < 1.0
    return remote.size is not None and remote.size == record.remote_size


def _plan_deletes(
    plan: Plan,
    remote_files: Mapping[str, RemoteEntry],
    remote_dirs: Mapping[str, RemoteEntry],
    wanted_keys: set[str],
    protected_key: str | None,
    rules: PlanRules,
    reasons: Mapping[str, str],
) -> None:
    ci = rules.case_insensitive
    # Folders that will still hold something. Keys are built from path keys: the
    # parents of a path's key are the keys of its parents (casefold is per character).
    kept_dirs: set[str] = set()
    unreadable = [path_key(p, ci) for p in rules.unreadable]
    # Each distinct folder once ("a/b/" for "a/b/c.gcode"); most keys share a few.
    for folder in {key[: key.rfind("/") + 1] for key in wanted_keys}:
        _add_parents(folder, kept_dirs)
    # Wanted files are never deleted, and their folders are in `kept_dirs` by now.
    for key in sorted(remote_files.keys() - wanted_keys):
        entry = remote_files[key]
        deletable = (
            not (unreadable and any(key == u or _is_below(key, u) for u in unreadable))
            and entry.print_file
            and is_print_file(entry.name)
            and not entry.read_only
        )
        if deletable and key == protected_key:
            plan.kept.append(Problem(entry.path, KEPT_EXCESS))
            _add_parents(key, kept_dirs)
        elif deletable:
            why = reasons.get(key, "not in master")
            plan.deletes.append(Action(Op.DELETE, entry.path, remote=entry, reason=why))
        else:
            _add_parents(key, kept_dirs)
    for file_action in plan.transfers:
        _add_parents(path_key(file_action.path, ci), kept_dirs)
    for mkdir in plan.mkdirs:
        _add_parents(path_key(mkdir.path, ci) + "/", kept_dirs)

    emptied: set[str] = set()
    for deletion in plan.deletes:
        for folder in _parents(deletion.path):
            folder_key = path_key(folder, ci)
            if folder_key not in kept_dirs and folder_key in remote_dirs:
                emptied.add(folder_key)
    # A folder is removed only when everything listed in it goes away; folders
    # that were already empty before this run are left alone.
    for folder_key in emptied:
        if any(_is_below(d, folder_key) and d not in emptied for d in remote_dirs):
            kept_dirs.add(folder_key)
    removable = sorted((k for k in emptied if k not in kept_dirs), key=lambda k: (-k.count("/"), k))
    plan.rmdirs.extend(
        Action(Op.RMDIR, remote_dirs[k].path, remote=remote_dirs[k]) for k in removable
    )


def _case_collisions(files: Sequence[LocalFile], folded: Sequence[str]) -> set[str]:
    """Casefolded paths that two master files share; `folded` holds each file's."""
    if len(set(folded)) == len(folded):
        return set()  # the common case, decided without a loop in Python
    seen: dict[str, str] = {}
    clashes: set[str] = set()
    for file, key in zip(files, folded, strict=True):
        if key in seen and seen[key] != file.path:
            clashes.add(key)
        seen[key] = file.path
    return clashes


def _add_parents(path: str, into: set[str]) -> None:
    """Add 'a' and 'a/b' for 'a/b/c.gcode' to `into`, which holds the parents of
    every folder it holds, so the walk up stops at the first folder already there."""
    cut = path.rfind("/")
    while cut > 0:
        folder = path[:cut]
        if folder in into:
            return
        into.add(folder)
        cut = path.rfind("/", 0, cut)


def _parents(path: str) -> list[str]:
    """'a/b/c.gcode' -> ['a', 'a/b']."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _is_below(path: str, folder: str) -> bool:
    return path.startswith(folder + "/")


# Asked for every master file on every printer; a farm shares one master.
@functools.lru_cache(maxsize=1 << 16)
def _extension(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:].lower() if dot > path.rfind("/") else ""
