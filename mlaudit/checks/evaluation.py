"""1xx: evaluation of trained models."""

from __future__ import annotations
