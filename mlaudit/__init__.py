"""mlaudit: a production-readiness auditor for machine-learning repositories."""

__version__ = "0.1.0"
