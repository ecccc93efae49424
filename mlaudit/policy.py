"""What the user decided: which checks run, and which findings are accepted and why.

Suppressed findings are kept, marked with their reason, so JSON and SARIF can show them;
nothing is silently dropped.
"""

from __future__ import annotations

import dataclasses

from mlaudit.catalog import Rule, expand_selector
from mlaudit.config import Config, ConfigError
from mlaudit.index.facts import FileFacts, Suppression
from mlaudit.paths import path_matches
from mlaudit.results import CheckResult, Finding


def _expand(selectors: list[str], origin: str) -> set[str]:
    codes: set[str] = set()
    for selector in selectors:
        expanded = expand_selector(selector)
        if expanded is None:
            raise ConfigError(f"{origin}: unknown rule {selector!r} (see `mlaudit rule --all`)")
        codes.update(expanded)
    return codes


def select_rules(
    catalog: dict[str, Rule], config: Config, cli_select: list[str], cli_ignore: list[str]
) -> dict[str, Rule]:
    """The rules to run: `select` (CLI over config, default all) minus every `ignore`."""
    selected = (
        _expand(cli_select, "--select")
        if cli_select
        else (_expand(config.select, "select") if config.select else set(catalog))
    )
    ignored = _expand(config.ignore, "ignore") | _expand(cli_ignore, "--ignore")
    for code in config.ignore_reasons:
        if expand_selector(code) is None:
            raise ConfigError(f"ignore-reasons: unknown rule {code!r}")
    for patterns in config.per_file_ignores.values():
        _expand(patterns, "per-file-ignores")
    chosen = {}
    for code in sorted(selected - ignored):
        rule = catalog[code]
        extra = config.vocabulary.get(code) or config.vocabulary.get(rule.name)
        if extra:
            merged = dict(rule.vocabulary)
            for key, names in extra.items():
                if key not in merged:
                    raise ConfigError(
                        f"vocabulary.{code}: {rule.code} has no vocabulary "
                        f"{key!r} (it has: {', '.join(sorted(merged)) or 'none'})"
                    )
                merged[key] = (*merged[key], *names)
            rule = dataclasses.replace(rule, vocabulary=merged)
        chosen[code] = rule
    for key in config.vocabulary:
        if expand_selector(key) is None:
            raise ConfigError(f"vocabulary: unknown rule {key!r}")
    return chosen


def ignore_reason(rule: Rule, config: Config) -> str | None:
    return config.ignore_reasons.get(rule.code) or config.ignore_reasons.get(rule.name)


def _names(rule: Rule) -> set[str]:
    return {rule.code.upper(), rule.name.lower()}


def _covers(suppression: Suppression, rule: Rule) -> bool:
    names = _names(rule)
    return any(code.upper() in names or code.lower() in names for code in suppression.codes)


def apply_suppressions(result: CheckResult, files: dict[str, FileFacts], config: Config) -> None:
    """Mark findings silenced by comments or per-file-ignores; recompute a code verdict."""
    rule = result.rule
    for finding in result.findings:
        _suppress(finding, rule, files.get(finding.path), config)
    if rule.scope == "code" and result.findings and not result.open_findings:
        result.verdict = "pass"
        result.reason = f"all {len(result.findings)} finding(s) suppressed"


def _suppress(finding: Finding, rule: Rule, facts: FileFacts | None, config: Config) -> None:
    if facts is not None:
        for suppression in facts.suppressions:
            if not _covers(suppression, rule):
                continue
            covers_line = suppression.line == finding.line or (
                suppression.own_line and suppression.line == finding.line - 1
            )
            if suppression.kind == "file" or covers_line:
                finding.suppressed = True
                finding.suppression_kind = "inSource"
                finding.suppression_reason = suppression.reason or "no reason given"
                return
    for pattern, selectors in sorted(config.per_file_ignores.items()):
        if not path_matches(finding.path, pattern):
            continue
        codes = {c for s in selectors for c in (expand_selector(s) or [])}
        if rule.code in codes:
            finding.suppressed = True
            finding.suppression_kind = "external"
            finding.suppression_reason = f"per-file-ignores: {pattern}"
            return
