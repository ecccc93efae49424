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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import msgspec

from mlaudit.index.cache import FactsCache
from mlaudit.index.extract import PARSED_KINDS, decode, digest, extract_bytes
from mlaudit.index.facts import FileFacts, ParseError
from mlaudit.index.triage import default_triage, full_pass_forced, light_facts
from mlaudit.workspace import Workspace, is_test_path

# Below this much source to parse, starting worker processes costs more than it saves.
SERIAL_BYTES = 400_000
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(FileFacts)

Job = tuple[str, str, bytes, bool]  # path, kind, content, full pass


def _work(batch: list[Job]) -> list[bytes]:
    """Worker: extract a batch of files and return their facts, encoded."""
    return [_encoder.encode(extract_bytes(*job)) for job in batch]


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
        errors=full.errors,
        notebook=full.notebook,
    )


def _python_text(kind: str, data: bytes) -> str | None:
    """The Python text triage reads: the file, or a notebook's joined code cells."""
    if kind == "python":
        return decode(data)
    if kind == "notebook":
        from mlaudit.index.extract import NOTEBOOK_MAX_BYTES
        from mlaudit.index.notebook import triage_text

        if len(data) > NOTEBOOK_MAX_BYTES or b"\0" in data[:8192]:
            return ""

        return triage_text(decode(data))
    return None


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
        self.parsed_bytes = 0

    def first_round(self) -> dict[str, FileFacts]:
        triage = None if full_pass_forced() else default_triage()
        todo: list[Job] = []
        for source in self.workspace.files:
            if source.kind not in PARSED_KINDS:
                self.facts[source.path] = FileFacts(path=source.path, kind=source.kind)
                continue
            try:
                data = self.workspace.abspath(source.path).read_bytes()
            except OSError as exc:
                failed = FileFacts(path=source.path, kind=source.kind)
                failed.errors.append(ParseError(f"cannot read: {exc.strerror or exc}"))
                self.facts[source.path] = failed
                continue
            cached = self.cache.get(source.path, source.kind, digest(data)) if self.cache else None
            if cached is not None and _is_full(cached):
                self._full[source.path] = cached
            text = _python_text(source.kind, data)
            light = (
                text is not None
                and triage is not None
                and not (triage.needs_full_pass(source.path, text, is_test_path(source.path)))
            )
            if light:
                assert text is not None
                self._data[source.path] = data
                if cached is not None and not _is_full(cached):
                    self.facts[source.path] = cached
                elif cached is not None:
                    # libcst already parsed it (an earlier scan needed it): no syntax check
                    # is owed, and the light record is a regular-expression pass.
                    self.facts[source.path] = light_record(
                        cached, _light_text(source.kind, data, text)
                    )
                else:
                    todo.append((source.path, source.kind, data, False))
            elif source.path in self._full:
                self.facts[source.path] = self._full[source.path]
            else:
                todo.append((source.path, source.kind, data, True))
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
                todo.append((path, facts.kind, self._data[path], True))
        self._extract(todo)
        return self.ordered()

    def light_paths(self) -> set[str]:
        return {p for p, f in self.facts.items() if not _is_full(f)}

    def ordered(self) -> dict[str, FileFacts]:
        return {path: self.facts[path] for path in sorted(self.facts)}

    def _extract(self, todo: list[Job]) -> None:
        total = sum(len(item[2]) for item in todo)
        self.parsed_bytes += sum(len(item[2]) for item in todo if item[3])
        if self.jobs <= 1 or total < SERIAL_BYTES or len(todo) < 4:
            results = [extract_bytes(*job) for job in todo]
        else:
            context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
            results = []
            with ProcessPoolExecutor(max_workers=self.jobs, mp_context=context) as pool:
                for encoded_batch in pool.map(_work, _batches(todo, self.jobs)):
                    results.extend(_decoder.decode(encoded) for encoded in encoded_batch)
        for item in results:
            self.facts[item.path] = item
            if _is_full(item):
                self._full[item.path] = item

    def save_cache(self) -> None:
        if self.cache is None:
            return
        entries: dict[str, FileFacts] = {}
        for path, facts in self.ordered().items():
            if facts.kind not in PARSED_KINDS or not facts.digest:
                continue
            entries[path] = self._full.get(path, facts)  # keep the fullest facts known
        self.cache.replace_all(entries)
        self.cache.save()


def open_cache(root: Path, cache_dir: str | None, enabled: bool) -> FactsCache | None:
    if not enabled:
        return None
    directory = Path(cache_dir).expanduser() if cache_dir else root / ".mlaudit_cache"
    if not directory.is_absolute():
        directory = Path.cwd() / directory
    cache = FactsCache(directory)
    cache.load()
    return cache
