"""The facts cache: per-file facts keyed by path, content hash and extractor version.

One file per scanned root (``.mlaudit_cache/facts-v<N>.msgpack``), read once and written
once per scan. It is signed with an HMAC whose key lives in the user's cache directory, never
in the repository: a cache committed to the repository or written by another machine is
foreign and is ignored and rewritten, never trusted. Decoding is typed, so a corrupt file
is rejected as a whole.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path
from typing import TypeVar

import msgspec

from mlaudit import __version__
from mlaudit.index.extract import FACTS_VERSION
from mlaudit.index.facts import FileFacts

CACHE_DIR_NAME = ".mlaudit_cache"
_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by mlaudit.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
_SIGNATURE_BYTES = 32
T = TypeVar("T")


class _Payload(msgspec.Struct):
    version: str
    entries: dict[str, FileFacts]
    # The light modules the demand walk asked for last time, and the key of the Python
    # sources it walked: same sources, same answer, no walk.
    demand_key: str = ""
    demanded: list[str] = []


def _user_key_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlaudit" / "cache-key"


def user_cache_dir() -> Path | None:
    """mlaudit's folder in the user's cache directory (None when there is no home)."""
    try:
        return _user_key_path().parent
    except RuntimeError:  # no home directory to expand
        return None


def _signing_key() -> bytes | None:
    """This machine's secret key for signing caches (created on first use)."""
    path = _user_key_path()
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key
    except OSError:
        return None


def cache_key() -> str:
    """What makes cached facts valid: the mlaudit and facts versions."""
    return f"{__version__}/{FACTS_VERSION}"


class FactsCache:
    """Load once, look up by (path, digest), save once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.file = directory / f"facts-v{FACTS_VERSION}.msgpack"
        self.entries: dict[str, FileFacts] = {}
        self.demand_key = ""
        self.demanded: list[str] = []
        self.dirty = False
        self.key = _signing_key()
        self.note: str | None = None
        self.loaded = False

    def load(self) -> None:
        if self.key is None or self.loaded:
            return
        self.loaded = True
        body = read_signed(self.file, self.key)
        if body is None:
            if self.file.exists():
                self.note = f"ignored a cache not written on this machine: {self.file}"
                self.dirty = True
            return
        try:
            payload = msgspec.msgpack.decode(body, type=_Payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.note = f"ignored a corrupt cache: {self.file}"
            self.dirty = True
            return
        if payload.version != cache_key():
            self.dirty = True
            return
        self.entries = payload.entries
        self.demand_key, self.demanded = payload.demand_key, payload.demanded

    def get(self, path: str, kind: str, digest: str) -> FileFacts | None:
        facts = self.entries.get(path)
        if facts is not None and facts.digest == digest and facts.kind == kind:
            return facts
        return None

    def replace_all(self, entries: dict[str, FileFacts]) -> None:
        """Keep exactly the facts of this scan (files gone from the tree drop out)."""
        if entries.keys() != self.entries.keys() or any(
            self.entries[p] is not f for p, f in entries.items()
        ):
            self.dirty = True
        self.entries = entries

    def remember_demand(self, key: str, demanded: list[str]) -> None:
        if (key, demanded) != (self.demand_key, self.demanded):
            self.demand_key, self.demanded = key, demanded
            self.dirty = True

    def save(self) -> None:
        if not self.dirty or self.key is None:
            return
        payload = _Payload(cache_key(), self.entries, self.demand_key, self.demanded)
        error = write_signed(self.file, self.key, msgspec.msgpack.encode(payload))
        if error is not None:
            self.note = f"could not write the cache in {self.directory}: {error}"


def read_signed(file: Path, key: bytes) -> bytes | None:
    """The body of a cache file this machine signed, or None (absent, foreign, truncated)."""
    try:
        blob = file.read_bytes()
    except OSError:
        return None
    signature, body = blob[:_SIGNATURE_BYTES], blob[_SIGNATURE_BYTES:]
    expected = hmac.new(key, body, hashlib.sha256).digest()
    return body if hmac.compare_digest(signature, expected) else None


def write_signed(file: Path, key: bytes, body: bytes) -> str | None:
    """Write a signed cache file atomically in a tagged, git-ignored cache directory; the
    error's text when it cannot be written."""
    directory = file.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tag = directory / "CACHEDIR.TAG"
        if not tag.exists():
            tag.write_text(_TAG, encoding="utf-8")
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text(
                "# Created by mlaudit: never commit this cache.\n*\n", encoding="utf-8"
            )
        signature = hmac.new(key, body, hashlib.sha256).digest()
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".cache-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(signature + body)
        os.replace(temp, file)
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


class SignedStore:
    """One more signed file beside the facts (git history, the last report): msgspec
    bodies under a key; anything unreadable, foreign or for another key is a miss."""

    def __init__(self, directory: Path, name: str) -> None:
        self.file = directory / name
        self.key = _signing_key()

    def get(self, key: str, kind: type[T]) -> T | None:
        if self.key is None:
            return None
        body = read_signed(self.file, self.key)
        if body is None:
            return None
        try:
            stored = msgspec.msgpack.decode(body, type=_Stored)
            if stored.version != cache_key() or stored.key != key:
                return None
            return msgspec.msgpack.decode(stored.body, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def put(self, key: str, value: object) -> None:
        if self.key is not None:
            body = msgspec.msgpack.encode(_Stored(cache_key(), key, msgspec.msgpack.encode(value)))
            write_signed(self.file, self.key, body)


class _Stored(msgspec.Struct):
    version: str
    key: str
    body: bytes


def clean(directory: Path) -> bool:
    """Remove a cache directory mlaudit created (it must carry mlaudit's CACHEDIR.TAG)."""
    tag = directory / "CACHEDIR.TAG"
    if not tag.is_file() or "mlaudit" not in tag.read_text(encoding="utf-8", errors="replace"):
        return False
    for child in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_dir() and not child.is_symlink():
            child.rmdir()
        else:
            child.unlink()
    directory.rmdir()
    return True
