"""Build the index of a workspace: cached facts where the content is unchanged, the rest
extracted in a process pool (or serially, where a pool would cost more than it saves).

Results are keyed by path, so the index is the same whatever the number of jobs or the
order in which workers finish.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import msgspec

from mlaudit.index.cache import FactsCache
from mlaudit.index.extract import PARSED_KINDS, digest, extract_bytes
from mlaudit.index.facts import FileFacts, ParseError
from mlaudit.workspace import Workspace

# Below this much Python source to parse, starting worker processes costs more than it saves.
SERIAL_BYTES = 400_000
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(FileFacts)


def _work(batch: list[tuple[str, str, bytes]]) -> list[bytes]:
    """Worker: extract a batch of files and return their facts, encoded."""
    return [_encoder.encode(extract_bytes(path, kind, data)) for path, kind, data in batch]


def _batches(items: list[tuple[str, str, bytes]], jobs: int) -> list[list[tuple[str, str, bytes]]]:
    """Split by size into about 4 batches per job, biggest first, for even load."""
    ordered = sorted(items, key=lambda item: len(item[2]), reverse=True)
    count = max(1, min(len(ordered), jobs * 4))
    batches: list[list[tuple[str, str, bytes]]] = [[] for _ in range(count)]
    sizes = [0] * count
    for item in ordered:
        index = sizes.index(min(sizes))
        batches[index].append(item)
        sizes[index] += len(item[2])
    return [b for b in batches if b]


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def build_index(workspace: Workspace, jobs: int, cache: FactsCache | None) -> dict[str, FileFacts]:
    """Facts for every file of the workspace, by path."""
    facts: dict[str, FileFacts] = {}
    todo: list[tuple[str, str, bytes]] = []
    for source in workspace.files:
        if source.kind not in PARSED_KINDS:
            facts[source.path] = FileFacts(path=source.path, kind=source.kind)
            continue
        try:
            data = workspace.abspath(source.path).read_bytes()
        except OSError as exc:
            failed = FileFacts(path=source.path, kind=source.kind)
            failed.errors.append(ParseError(f"cannot read: {exc.strerror or exc}"))
            facts[source.path] = failed
            continue
        cached = cache.get(source.path, source.kind, digest(data)) if cache else None
        if cached is not None:
            facts[source.path] = cached
        else:
            todo.append((source.path, source.kind, data))
    total = sum(len(item[2]) for item in todo)
    if jobs <= 1 or total < SERIAL_BYTES or len(todo) < 4:
        for path, kind, data in todo:
            facts[path] = extract_bytes(path, kind, data)
    else:
        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for encoded_batch in pool.map(_work, _batches(todo, jobs)):
                for encoded in encoded_batch:
                    item = _decoder.decode(encoded)
                    facts[item.path] = item
    ordered = {path: facts[path] for path in sorted(facts)}
    if cache is not None:
        cache.replace_all({p: f for p, f in ordered.items() if f.kind in PARSED_KINDS})
        cache.save()
    return ordered


def open_cache(root: Path, cache_dir: str | None, enabled: bool) -> FactsCache | None:
    if not enabled:
        return None
    directory = Path(cache_dir).expanduser() if cache_dir else root / ".mlaudit_cache"
    if not directory.is_absolute():
        directory = Path.cwd() / directory
    cache = FactsCache(directory)
    cache.load()
    return cache
