"""Reports: one ScanResult rendered as terminal text, JSON or SARIF. Every format shows the
same facts."""
