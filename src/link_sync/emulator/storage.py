"""One printer storage: a tree of folders and files, in memory or mirrored in a folder.

`fat=True` gives the Buddy USB stick: names match case-insensitively by long or 8.3
short name. `fat=False` gives a plain POSIX folder (Pi PrusaLink). Uploads go to a
temporary blob that only becomes a file on `commit`, so a broken upload leaves nothing.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from link_sync.emulator.fat import short_name

_FILLER = b"G1 X10 Y10 F3000\nG1 X20 Y20\n"


def filler(size: int) -> bytes:
    """`size` bytes of plausible G-code, for initial files given by size."""
    reps = size // len(_FILLER) + 1
    return (_FILLER * reps)[:size]


@dataclass(eq=False, slots=True)
class Node:
    name: str  # long (display) name
    short: str  # 8.3 name on FAT, else == name
    is_dir: bool
    parent: Node | None
    m_timestamp: int
    size: int = 0
    # the received chunks, joined on first read: joining at commit time would stall the
    # event loop when many uploads end together and skew every other printer's throttle
    data: list[bytes] | None = None  # None when mirrored on disk (or a folder)
    etag: int = 0  # folders: changes whenever a direct child changes
    visible_at: float = 0.0  # Pi listing lag: not listed before this time
    #: Pi 0.8.1: created inside a folder its file index had not seen yet, so never
    #: listed (it is on disk) until the server restarts
    unindexed: bool = False
    by_name: dict[str, Node] = field(default_factory=dict)
    by_short: dict[str, Node] = field(default_factory=dict)
    ghosts: dict[str, tuple[Node, float]] = field(default_factory=dict)


class TempBlob:
    """An upload being received; `commit` turns it into a file, `discard` drops it."""

    def __init__(self, disk_path: Path | None) -> None:
        self.disk_path = disk_path
        self.size = 0
        self._chunks: list[bytes] = []
        self._fh: BinaryIO | None = open(disk_path, "wb") if disk_path else None  # noqa: SIM115

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._fh is not None:
            self._fh.write(chunk)
        else:
            self._chunks.append(chunk)

    def close(self) -> list[bytes] | None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            return None
        return self._chunks

    def discard(self) -> None:
        self.close()
        self._chunks = []
        if self.disk_path is not None:
            self.disk_path.unlink(missing_ok=True)


class Storage:
    def __init__(self, *, fat: bool, root_name: str, disk_root: Path | None = None) -> None:
        self.fat = fat
        self.disk_root = disk_root
        self.root = Node(root_name, root_name, True, None, int(time.time()))
        self.used = 0
        self.version = 0  # changes on every change anywhere (Pi's global ETag)
        self._etags = itertools.count(secrets.randbelow(1 << 30))
        self._tmp_seq = itertools.count(1)
        self.root.etag = next(self._etags)
        if disk_root is not None:
            disk_root.mkdir(parents=True, exist_ok=True)
            self._load(disk_root, self.root)

    # -- lookup -------------------------------------------------------------------------

    def child(self, folder: Node, name: str) -> Node | None:
        if self.fat:
            key = name.lower()
            return folder.by_name.get(key) or folder.by_short.get(key)
        return folder.by_name.get(name)

    def find(self, parts: list[str]) -> Node | None:
        node: Node | None = self.root
        for part in parts:
            if node is None or not node.is_dir:
                return None
            node = self.child(node, part)
        return node

    def children(self, folder: Node, now: float | None = None) -> list[Node]:
        """Direct children; with `now`, as a lagging listing shows them at that time."""
        kids = list(folder.by_name.values())
        if now is None:
            return kids
        shown = [k for k in kids if k.visible_at <= now and not k.unindexed]
        for key, (ghost, until) in list(folder.ghosts.items()):
            if until > now:
                if key not in folder.by_name:
                    shown.append(ghost)
            else:
                del folder.ghosts[key]
        return shown

    def path_of(self, node: Node, *, short: bool = False) -> str:
        parts: list[str] = []
        cur: Node | None = node
        while cur is not None and cur.parent is not None:
            parts.append(cur.short if short else cur.name)
            cur = cur.parent
        return "/".join(reversed(parts))

    def walk(self, folder: Node | None = None) -> Iterator[Node]:
        for kid in (folder or self.root).by_name.values():
            yield kid
            if kid.is_dir:
                yield from self.walk(kid)

    def read(self, node: Node) -> bytes:
        if node.data is not None:
            if len(node.data) != 1:
                node.data = [b"".join(node.data)]
            return node.data[0]
        return self._disk(node).read_bytes() if self.disk_root else b""

    def dir_size(self, folder: Node) -> int:
        return sum(n.size for n in self.walk(folder) if not n.is_dir)

    # -- changes ------------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return name.lower() if self.fat else name

    def _short_for(self, folder: Node, name: str) -> str:
        if not self.fat:
            return name
        short = short_name(name, lambda s: s.lower() in folder.by_short)
        if short is None:
            raise OSError("no free 8.3 name")
        return short

    def _touch(self, folder: Node) -> None:
        folder.etag = next(self._etags)
        self.version += 1

    def _attach(self, folder: Node, node: Node) -> None:
        folder.by_name[self._key(node.name)] = node
        if self.fat:
            folder.by_short[node.short.lower()] = node
        folder.ghosts.pop(self._key(node.name), None)
        self._touch(folder)

    def _detach(self, node: Node, ghost_until: float = 0.0) -> None:
        folder = node.parent
        assert folder is not None
        key = self._key(node.name)
        folder.by_name.pop(key, None)
        if self.fat:
            folder.by_short.pop(node.short.lower(), None)
        if ghost_until:
            folder.ghosts[key] = (node, ghost_until)
        self._touch(folder)

    def mkdir(self, folder: Node, name: str, m_timestamp: int, visible_at: float = 0.0) -> Node:
        node = Node(name, self._short_for(folder, name), True, folder, m_timestamp)
        node.etag = next(self._etags)
        node.visible_at = visible_at
        if self.disk_root is not None:
            self._disk(folder).joinpath(name).mkdir(exist_ok=True)
        self._attach(folder, node)
        return node

    def temp(self) -> TempBlob:
        if self.disk_root is None:
            return TempBlob(None)
        return TempBlob(self.disk_root / f".upload-{next(self._tmp_seq)}.tmp")

    def commit(
        self, folder: Node, name: str, blob: TempBlob, m_timestamp: int, visible_at: float = 0.0
    ) -> Node:
        """Make `blob` the file `name` in `folder`, replacing any file of that name."""
        data = blob.close()
        old = self.child(folder, name)
        if old is not None:
            self.remove(old)
        node = Node(name, self._short_for(folder, name), False, folder, m_timestamp, blob.size)
        node.visible_at = visible_at
        if self.disk_root is not None:
            assert blob.disk_path is not None
            os.replace(blob.disk_path, self._disk(folder) / name)
        else:
            node.data = data
        self.used += node.size
        self._attach(folder, node)
        return node

    def put_bytes(self, folder: Node, name: str, data: bytes, m_timestamp: int) -> Node:
        blob = self.temp()
        blob.write(data)
        return self.commit(folder, name, blob, m_timestamp)

    def remove(self, node: Node, ghost_until: float = 0.0) -> None:
        """Remove a file or a folder with everything in it."""
        if node.is_dir:
            for kid in list(node.by_name.values()):
                self.remove(kid)
        else:
            self.used -= node.size
        if self.disk_root is not None:
            path = self._disk(node)
            if node.is_dir:
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        self._detach(node, ghost_until)

    def makedirs(self, parts: list[str], m_timestamp: int) -> Node:
        node, _ = self.makedirs_counted(parts, m_timestamp)
        return node

    def makedirs_counted(self, parts: list[str], m_timestamp: int) -> tuple[Node, list[Node]]:
        """Like `makedirs`, also returning the folders it created, outermost first."""
        node = self.root
        created: list[Node] = []
        for part in parts:
            nxt = self.child(node, part)
            if nxt is None:
                nxt = self.mkdir(node, part, m_timestamp)
                created.append(nxt)
            elif not nxt.is_dir:
                raise NotADirectoryError(part)
            node = nxt
        return node, created

    # -- disk mirror --------------------------------------------------------------------

    def _disk(self, node: Node) -> Path:
        assert self.disk_root is not None
        rel = self.path_of(node)
        return self.disk_root / rel if rel else self.disk_root

    def _load(self, path: Path, folder: Node) -> None:
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            if entry.name.startswith(".upload-"):
                os.unlink(entry.path)  # a temp file of an upload cut short by a crash
                continue
            mtime = int(entry.stat().st_mtime)
            mtime -= mtime % 2 if self.fat else 0
            if entry.is_dir():
                node = Node(entry.name, self._short_for(folder, entry.name), True, folder, mtime)
                node.etag = next(self._etags)
                self._attach(folder, node)
                self._load(Path(entry.path), node)
            else:
                size = entry.stat().st_size
                node = Node(
                    entry.name, self._short_for(folder, entry.name), False, folder, mtime, size
                )
                self.used += size
                self._attach(folder, node)
