"""Content hashes of master files, each computed once per run (and cached in the journal)."""

from __future__ import annotations

import asyncio

from link_sync.core.model import LocalFile
from link_sync.core.planner import JOURNAL_HASH
from link_sync.engine.journal import Journal
from link_sync.engine.scan import hash_file


class LocalHashes:
    """Content hashes of master files, each computed once per run.

    SHA-256 hashes also go to the journal's cache, keyed by path, size and
    mtime, so an unchanged file is not read again on the next run.
    """

    def __init__(self, journal: Journal | None) -> None:
        self._journal = journal
        self._memo: dict[tuple[str, str], asyncio.Future[str]] = {}

    async def get(self, file: LocalFile, algorithm: str) -> str:
        key = (str(file.abspath), algorithm)
        future = self._memo.get(key)
        if future is None:
            future = asyncio.ensure_future(self._compute(file, algorithm))
            self._memo[key] = future
        return await asyncio.shield(future)

    async def _compute(self, file: LocalFile, algorithm: str) -> str:
        journal = self._journal if algorithm == JOURNAL_HASH else None
        if journal is not None:
            cached = journal.cached_hash(str(file.abspath), file.size, file.mtime_ns)
            if cached is not None:
                return cached
        digest = await asyncio.to_thread(hash_file, file.abspath, algorithm)
        if journal is not None:
            journal.remember_hash(str(file.abspath), file.size, file.mtime_ns, digest)
        return digest
