"""2xx: the data pipeline."""

from __future__ import annotations
