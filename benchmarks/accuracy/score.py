#!/usr/bin/env python3
"""Score mlaudit's verdicts against hand-made labels of real repositories.

Usage::

    python benchmarks/accuracy/score.py --checkouts DIR [--repo NAME ...] [--json OUT] [-v]
    python benchmarks/accuracy/score.py prepare --from MIRRORS --into DIR

Each ``labels/owner+name.yaml`` records what a careful reviewer decided for every trait and
check of one repository at one commit.  This script runs the installed ``mlaudit`` on
``DIR/owner+name`` (a local checkout: nothing is fetched, nothing of the target is run),
compares verdicts and prints precision, recall and agreement, with every disagreement and
whether ``known.yaml`` explains it.  A verdict is a *problem* when it is fail or partial.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels"
KNOWN = HERE / "known.yaml"
VERDICTS = ("pass", "partial", "fail", "n/a")
PROBLEM = frozenset({"fail", "partial"})
TRAITS = ("TRAINS", "SERVES", "CONTAINER", "CI", "DEPLOYS", "INGESTS")


@dataclass
class Pair:
    """One labelled (repository, check) pair and what mlaudit said of it."""

    repo: str
    code: str
    expected: str
    actual: str
    evidence: str = ""
    why: str = ""
    mlaudit_reason: str = ""
    explained: str = ""

    @property
    def agrees(self) -> bool:
        return self.expected == self.actual


@dataclass
class Totals:
    """Confusion counts over problems, plus exact agreement."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    same: int = 0
    pairs: int = 0

    def add(self, pair: Pair) -> None:
        want, got = pair.expected in PROBLEM, pair.actual in PROBLEM
        self.tp += want and got
        self.fp += got and not want
        self.fn += want and not got
        self.tn += not want and not got
        self.same += pair.agrees
        self.pairs += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "precision": ratio(self.tp, self.tp + self.fp),
            "recall": ratio(self.tp, self.tp + self.fn),
            "agreement": ratio(self.same, self.pairs),
        }


@dataclass
class RepoResult:
    repo: str
    folder: str
    commit_ok: bool
    error: str = ""
    pairs: list[Pair] = field(default_factory=list)
    trait_misses: list[str] = field(default_factory=list)


def ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def folder_name(repo: str) -> str:
    return repo.replace("/", "+")


def load_labels(names: Iterable[str] = (), folder: Path = LABELS) -> list[dict[str, Any]]:
    """Every label file (or the named ones), validated enough to score."""
    wanted = {folder_name(n) for n in names}
    out = []
    for path in sorted(folder.glob("*.yaml")):
        if wanted and path.stem not in wanted:
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        problems = validate_label(data, path)
        if problems:
            raise SystemExit("\n".join(problems))
        out.append(data)
    if wanted and len(out) != len(wanted):
        found = {folder_name(d["repo"]) for d in out}
        raise SystemExit(f"no label file for: {', '.join(sorted(wanted - found))}")
    return out


def validate_label(data: Any, path: Path) -> list[str]:
    """Say what is wrong with a label file, file and key first."""
    if not isinstance(data, dict):
        return [f"{path}: not a mapping"]
    errors = []
    for key in ("repo", "commit", "traits", "checks"):
        if key not in data:
            errors.append(f"{path}: missing key {key!r}")
    if errors:
        return errors
    if folder_name(str(data["repo"])) != path.stem:
        errors.append(f"{path}: repo {data['repo']!r} does not match the file name")
    for name, entry in (data.get("traits") or {}).items():
        if name not in TRAITS or not isinstance(entry, dict) or "present" not in entry:
            errors.append(f"{path}: traits.{name}: needs a known trait with 'present'")
    for code, entry in (data.get("checks") or {}).items():
        if not isinstance(entry, dict) or entry.get("verdict") not in VERDICTS:
            errors.append(f"{path}: checks.{code}: verdict must be one of {', '.join(VERDICTS)}")
    return errors


def load_known(path: Path = KNOWN) -> dict[tuple[str, str], str]:
    """Explained disagreements: (repo, code) -> why the disagreement stays."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return {(str(e["repo"]), str(e["code"])): str(e["why"]) for e in data}


def mlaudit_command(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    beside = Path(sys.executable).with_name("mlaudit")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mlaudit")
    return [found] if found else [sys.executable, "-m", "mlaudit"]


def head_commit(folder: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


def scan(folder: Path, command: list[str]) -> dict[str, Any]:
    """One ``mlaudit scan`` of a checkout, its JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        done = subprocess.run(
            [
                *command,
                "scan",
                str(folder),
                "-f",
                "json",
                "-o",
                str(out),
                "--exit-zero",
                "--cache-dir",
                str(Path(tmp) / "cache"),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"mlaudit exited {done.returncode}: {done.stderr.strip()[-500:]}")
        return json.loads(out.read_text(encoding="utf-8"))


def compare(label: dict[str, Any], report: dict[str, Any], known: dict) -> RepoResult:
    """The labelled pairs of one repository, against one report."""
    repo = str(label["repo"])
    result = RepoResult(repo=repo, folder=folder_name(repo), commit_ok=True)
    checks = {c["code"]: c for c in report["checks"]}
    for code, entry in sorted(label["checks"].items()):
        got = checks.get(code)
        actual = "missing" if got is None else normalise(got["verdict"])
        pair = Pair(
            repo=repo,
            code=code,
            expected=entry["verdict"],
            actual=actual,
            evidence=str(entry.get("evidence") or ""),
            why=str(entry.get("why") or ""),
            mlaudit_reason=str(got.get("reason") or "") if got else "",
        )
        if not pair.agrees:
            pair.explained = known.get((repo, code), "")
        result.pairs.append(pair)
    present = {t["name"]: bool(t["present"]) for t in report["traits"]}
    for name, entry in sorted((label.get("traits") or {}).items()):
        if bool(entry["present"]) != present.get(name, False):
            want = "present" if entry["present"] else "absent"
            result.trait_misses.append(f"{name} should be {want}")
    return result


def normalise(verdict: str) -> str:
    # A waiver in the target's own config is the repository's decision, not mlaudit's.
    return "pass" if verdict == "ignored" else verdict


def run(args: argparse.Namespace) -> int:
    labels = load_labels(args.repo, Path(args.labels))
    known = load_known(Path(args.known))
    command = mlaudit_command(args.mlaudit)
    checkouts = Path(args.checkouts).expanduser()
    results: list[RepoResult] = []
    for label in labels:
        folder = checkouts / folder_name(str(label["repo"]))
        if not folder.is_dir():
            results.append(RepoResult(label["repo"], folder.name, False, "no checkout"))
            continue
        commit_ok = head_commit(folder) == label["commit"]
        try:
            report = scan(folder, command)
        except RuntimeError as exc:
            results.append(RepoResult(label["repo"], folder.name, commit_ok, str(exc)))
            continue
        result = compare(label, report, known)
        result.commit_ok = commit_ok
        results.append(result)
    summary = summarise(results)
    print_report(results, summary, verbose=args.verbose)
    if args.json:
        payload = {
            "summary": summary,
            "repositories": [asdict(r) for r in results],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 1 if any(r.error for r in results) else 0


def summarise(results: list[RepoResult]) -> dict[str, Any]:
    overall = Totals()
    per_check: dict[str, Totals] = {}
    for result in results:
        for pair in result.pairs:
            overall.add(pair)
            per_check.setdefault(pair.code, Totals()).add(pair)
    disagreements = [p for r in results for p in r.pairs if not p.agrees]
    return {
        "repositories": len(results),
        "scanned": sum(1 for r in results if not r.error),
        "overall": overall.as_dict(),
        "per_check": {code: t.as_dict() for code, t in sorted(per_check.items())},
        "disagreements": len(disagreements),
        "unexplained": sum(1 for p in disagreements if not p.explained),
        "trait_misses": sum(len(r.trait_misses) for r in results),
    }


def print_report(results: list[RepoResult], summary: dict[str, Any], verbose: bool) -> None:
    print(f"{'repository':58} pairs agree  tp fp fn  traits")
    for r in results:
        if r.error:
            print(f"{r.folder:58} ERROR {r.error}")
            continue
        t = Totals()
        for p in r.pairs:
            t.add(p)
        stale = "" if r.commit_ok else "  (checkout is not at the labelled commit)"
        traits = "ok" if not r.trait_misses else "; ".join(r.trait_misses)
        print(f"{r.folder:58} {t.pairs:5} {t.same:5} {t.tp:3} {t.fp:2} {t.fn:2}  {traits}{stale}")
    print()
    for r in results:
        for p in r.pairs:
            if p.agrees:
                continue
            if p.explained and not verbose:
                continue
            mark = "explained" if p.explained else "UNEXPLAINED"
            print(f"[{mark}] {r.folder} {p.code}: reviewer {p.expected}, mlaudit {p.actual}")
            print(f"    reviewer: {p.evidence} {p.why}".rstrip())
            print(f"    mlaudit:  {p.mlaudit_reason}")
            if p.explained:
                print(f"    why it stays: {p.explained}")
    o = summary["overall"]
    print()
    print(
        f"{summary['scanned']}/{summary['repositories']} repositories, {o['pairs']} pairs: "
        f"precision {fmt(o['precision'])}, recall {fmt(o['recall'])}, "
        f"agreement {fmt(o['agreement'])} (tp {o['tp']}, fp {o['fp']}, fn {o['fn']}); "
        f"{summary['disagreements']} disagreements, {summary['unexplained']} unexplained; "
        f"{summary['trait_misses']} trait misses"
    )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def prepare(args: argparse.Namespace) -> int:
    """Clone each labelled repository at its commit from local git directories."""
    into = Path(args.into).expanduser()
    into.mkdir(parents=True, exist_ok=True)
    missing = 0
    for label in load_labels(args.repo, Path(args.labels)):
        name = folder_name(str(label["repo"]))
        target = into / name
        if not target.exists():
            source = local_source(Path(args.source).expanduser(), name) if args.source else None
            if source is None:
                missing += 1
                print(
                    f"{name}: no local copy; run: git clone https://github.com/{label['repo']} "
                    f"{target} && git -C {target} checkout {label['commit']}"
                )
                continue
            subprocess.run(["git", "clone", "-q", str(source), str(target)], check=True)
        subprocess.run(["git", "-C", str(target), "checkout", "-q", label["commit"]], check=True)
        print(f"{name}: {label['commit'][:12]}")
    return 1 if missing else 0


def local_source(root: Path, name: str) -> Path | None:
    """A git directory or clone for ``name`` under ``root`` (mirror layouts included)."""
    for candidate in (root / name / "repo" / ".git", root / name / "repo", root / name):
        if (candidate / "HEAD").exists() or (candidate / ".git").exists():
            return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if argv[:1] == ["prepare"]:
        parser.add_argument("--from", dest="source", help="folder of local git copies")
        parser.add_argument("--into", required=True, help="folder to create checkouts in")
        parser.add_argument("--repo", action="append", default=[], help="only this owner/name")
        parser.add_argument("--labels", default=str(LABELS), help="folder of label files")
        return prepare(parser.parse_args(argv[1:]))
    parser.add_argument(
        "--checkouts",
        default=os.environ.get("MLAUDIT_ACCURACY_CHECKOUTS", str(HERE.parent / ".work" / "corpus")),
        help="folder holding one checkout per labelled repository, named owner+name",
    )
    parser.add_argument("--repo", action="append", default=[], help="only this owner/name")
    parser.add_argument("--labels", default=str(LABELS), help="folder of label files")
    parser.add_argument("--known", default=str(KNOWN), help="explained disagreements (YAML)")
    parser.add_argument("--json", help="write the comparison as JSON to this file")
    parser.add_argument("--mlaudit", help="the mlaudit executable (default: next to python)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show explained ones too")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
