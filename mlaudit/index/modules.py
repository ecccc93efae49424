"""Module names of repository paths (kept free of heavy imports: triage uses it too)."""

from __future__ import annotations


def module_name(path: str) -> str:
    """Dotted module name of a repo-relative path: ``app/model.py`` -> ``app.model``."""
    stem = path.rsplit(".", 1)[0] if path.endswith((".py", ".ipynb")) else path
    parts = [p for p in stem.split("/") if p]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)
