"""Build the index of a workspace: cached facts where the content is unchanged, the rest
extracted in a process pool (or serially, where a pool would cost more than it saves).

Python files are triaged first (triage.py): the full libcst pass for files whose text holds
something a check looks for, a light record for the rest, and a second round (``deepen``)
for light modules that an entry point or handler turns out to call. Results are keyed by
path, so the index is the same whatever the number of jobs or the order workers finish in.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from pathlib import Path

import msgspec

from mlaudit.index.cache import FactsCache
from mlaudit.index.extract import (
    OVER_BUDGET,
    PARSED_KINDS,
    decode,
    digest,
    extract_bytes,
    preload_parsers,
    time_budget,
)
from mlaudit.index.facts import FileFacts, ParseError
from mlaudit.index.triage import default_triage, full_pass_forced, light_facts
from mlaudit.workspace import Workspace

# Below this much source to parse, starting worker processes costs more than it saves.
SERIAL_BYTES = 400_000
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(FileFacts)

Job = tuple[str, str, bytes, str]  # path, kind, content, mode (full, light, triage)


PROCESS_DIED = "not parsed: the process extracting this file died (or ran far over the time budget)"


def _isolated(job: Job, context: BaseContext) -> FileFacts:
    """Extract one file in a process of its own; its death becomes an ML901 fact."""
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return _decoder.decode(pool.submit(_work, [job]).result()[0])
    except BrokenProcessPool:
        facts = FileFacts(path=job[0], kind=job[1], digest=digest(job[2]))
        facts.errors.append(ParseError(PROCESS_DIED))
        return facts


def _work(batch: list[Job]) -> list[bytes]:
    """Worker: extract a batch of files and return their facts, encoded."""
    limit = 2 * time_budget() + 1 if time_budget() > 0 else 0.0
    encoded: list[bytes] = []
    for job in batch:
        with _cpu_limit(limit):
            encoded.append(_encoder.encode(extract_bytes(*job)))
    return encoded


@contextmanager
def _cpu_limit(seconds: float) -> Iterator[None]:
    """In a pool worker only: the time budget's backstop for native code, which the budget's
    Python-level interrupt cannot stop. Past ``seconds`` of CPU time the kernel ends the
    worker (SIGVTALRM's default action); the pool then names the file (PROCESS_DIED)."""
    if seconds <= 0 or not hasattr(signal, "ITIMER_VIRTUAL"):
        yield
        return
    previous = signal.signal(signal.SIGVTALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def _batches(items: list[Job], jobs: int) -> list[list[Job]]:
    """Split by size into about 4 batches per job, biggest first, for even load."""
    ordered = sorted(items, key=lambda item: (-len(item[2]), item[0]))
    count = max(1, min(len(ordered), jobs * 4))
    batches: list[list[Job]] = [[] for _ in range(count)]
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


def light_record(full: FileFacts, text: str) -> FileFacts:
    """The light record of a file whose full facts are known."""
    return FileFacts(
        path=full.path,
        kind=full.kind,
        digest=full.digest,
        lines=full.lines,
        python=light_facts(full.path, text),
        suppressions=full.suppressions,
        triaged="light",
        errors=full.errors,
        notebook=full.notebook,
    )


# Kinds triaged like Python modules (a notebook's code cells are a module).
PYTHON_KINDS = frozenset({"python", "notebook"})


def _light_text(kind: str, data: bytes, text: str) -> str:
    """The text a light record reads: for a notebook, the joined code its lines refer to."""
    if kind != "notebook":
        return text
    from mlaudit.index.notebook import notebook_code

    return notebook_code(decode(data)).code


def _is_full(facts: FileFacts) -> bool:
    return facts.python is None or facts.python.depth == "full"


class IndexBuilder:
    """Facts for every file of a workspace, built in rounds."""

    def __init__(self, workspace: Workspace, jobs: int, cache: FactsCache | None) -> None:
        self.workspace = workspace
        self.jobs = jobs
        self.cache = cache
        self.facts: dict[str, FileFacts] = {}
        self._data: dict[str, bytes] = {}  # Python sources kept for a later full pass
        self._full: dict[str, FileFacts] = {}  # full facts known (computed or cached)
        self._triage: dict[str, str] = {}  # Python path -> "full" | "light"
        self.parsed_bytes = 0
        # path -> (content, digest), or the reason it could not be read; read once.
        self._sources: dict[str, tuple[bytes, str] | str] | None = None
        self._tree_key = ""

    def read_sources(self) -> str:
        """Read every parsed file once; the key of the whole tree: the content of the files
        mlaudit parses and the size and modification time of the others."""
        if self._sources is not None:
            return self._tree_key
        self._sources = {}
        rows: list[str] = []
        for source in self.workspace.files:
            full = self.workspace.abspath(source.path)
            if source.kind not in PARSED_KINDS:
                try:
                    stat = full.stat()
                    rows.append(f"{source.path}\0{source.kind}\0{stat.st_size}:{stat.st_mtime_ns}")
                except OSError:
                    rows.append(f"{source.path}\0{source.kind}\0-")
                continue
            try:
                data = full.read_bytes()
            except OSError as exc:
                self._sources[source.path] = str(exc.strerror or exc)
                rows.append(f"{source.path}\0{source.kind}\0unreadable")
                continue
            self._sources[source.path] = (data, digest(data))
            rows.append(f"{source.path}\0{source.kind}\0{self._sources[source.path][1]}")
        self._tree_key = digest("\n".join(rows).encode("utf-8", errors="surrogateescape"))
        return self._tree_key

    def first_round(self) -> dict[str, FileFacts]:
        forced = full_pass_forced()
        if not forced:
            default_triage()  # compiled once here, inherited by forked workers
        self.read_sources()
        assert self._sources is not None
        if self.cache is not None:
            self.cache.load()
        todo: list[Job] = []
        for source in self.workspace.files:
            if source.kind not in PARSED_KINDS:
                self.facts[source.path] = FileFacts(path=source.path, kind=source.kind)
                continue
            read = self._sources[source.path]
            if isinstance(read, str):
                failed = FileFacts(path=source.path, kind=source.kind)
                failed.errors.append(ParseError(f"cannot read: {read}"))
                self.facts[source.path] = failed
                continue
            data, content = read
            cached = self.cache.get(source.path, source.kind, content) if self.cache else None
            if cached is not None and _is_full(cached):
                self._full[source.path] = cached
            if source.kind in PYTHON_KINDS:
                self._data[source.path] = data
            verdict = cached.triaged if cached is not None else ""
            if source.kind not in PYTHON_KINDS or forced:
                verdict = "full"
            if verdict == "light" and cached is not None:
                self._triage[source.path] = "light"
                # A cached full record means libcst already parsed it (an earlier scan
                # needed it): no syntax check is owed, the light record is a regex pass.
                # A file that failed to parse keeps its cached record: its errors (ML901).
                self.facts[source.path] = (
                    light_record(cached, _light_text(source.kind, data, decode(data)))
                    if _is_full(cached) and cached.python is not None
                    else cached
                )
            elif source.path in self._full and (verdict == "full" or forced):
                self._triage[source.path] = "full"
                self.facts[source.path] = self._full[source.path]
            else:
                # Triage runs in the workers, next to the parse it decides on.
                todo.append((source.path, source.kind, data, verdict or "triage"))
        self._extract(todo)
        return self.ordered()

    def deepen(self, paths: set[str]) -> dict[str, FileFacts]:
        """The full pass for light modules that turned out to be needed."""
        todo: list[Job] = []
        for path in sorted(paths):
            facts = self.facts.get(path)
            if facts is None or _is_full(facts):
                continue
            if path in self._full:
                self.facts[path] = self._full[path]
            else:
                todo.append((path, facts.kind, self._data[path], "full"))
        self._extract(todo)
        return self.ordered()

    def python_key(self) -> str:
        """A key of every Python source of the scan (path and content)."""
        lines = "\n".join(
            f"{p}\0{f.digest}" for p, f in sorted(self.facts.items()) if f.kind in PYTHON_KINDS
        )
        return digest(lines.encode("utf-8"))

    def cached_demand(self, key: str) -> set[str] | None:
        """What the demand walk asked for last time, if it walked these same sources."""
        if self.cache is None or not self.cache.demand_key or self.cache.demand_key != key:
            return None
        return set(self.cache.demanded)

    def remember_demand(self, key: str, demanded: set[str]) -> None:
        if self.cache is not None:
            self.cache.remember_demand(key, sorted(demanded))

    def light_paths(self) -> set[str]:
        return {p for p, f in self.facts.items() if not _is_full(f)}

    def ordered(self) -> dict[str, FileFacts]:
        return {path: self.facts[path] for path in sorted(self.facts)}

    def _extract(self, todo: list[Job]) -> None:
        total = sum(len(item[2]) for item in todo)
        self.parsed_bytes += sum(len(item[2]) for item in todo if item[3] == "full")
        if todo:
            preload_parsers()  # outside any file's time budget, and before workers fork
        if self.jobs <= 1 or total < SERIAL_BYTES or len(todo) < 4:
            results = [extract_bytes(*job) for job in todo]
        else:
            results = self._pooled(todo)
        for item in results:
            if item.kind in PYTHON_KINDS:
                item.triaged = item.triaged or self._triage.get(item.path, "full")
                self._triage[item.path] = item.triaged
            self.facts[item.path] = item
            if _is_full(item):
                self._full[item.path] = item

    def _pooled(self, todo: list[Job]) -> list[FileFacts]:
        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        results: list[FileFacts] = []
        try:
            with ProcessPoolExecutor(max_workers=self.jobs, mp_context=context) as pool:
                for encoded_batch in pool.map(_work, _batches(todo, self.jobs)):
                    results.extend(_decoder.decode(encoded) for encoded in encoded_batch)
        except BrokenProcessPool:
            # A worker died (a native parser crashed, or the system killed it): extract the
            # files not done one process each, so the file that kills its process is named.
            done = {facts.path for facts in results}
            results.extend(_isolated(job, context) for job in todo if job[0] not in done)
        return results

    def save_cache(self) -> None:
        if self.cache is None:
            return
        entries: dict[str, FileFacts] = {}
        for path, facts in self.ordered().items():
            if facts.kind not in PARSED_KINDS or not facts.digest:
                continue
            if any(e.message.startswith((OVER_BUDGET, PROCESS_DIED)) for e in facts.errors):
                continue  # the time budget depends on the machine's load: retry next scan
            entries[path] = self._full.get(path, facts)  # keep the fullest facts known
        self.cache.replace_all(entries)
        self.cache.save()


def open_cache(root: Path, cache_dir: str | None, enabled: bool) -> FactsCache | None:
    if not enabled:
        return None
    directory = Path(cache_dir).expanduser() if cache_dir else root / ".mlaudit_cache"
    if not directory.is_absolute():
        directory = Path.cwd() / directory
    return FactsCache(directory)  # loaded by the first round, if the scan gets that far
