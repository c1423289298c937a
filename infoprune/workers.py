"""Measure a run's cells in N worker processes at once: for CPU machines, where one small model leaves cores idle.

The main process does everything that reads a criterion: it scores the pool criterion by criterion, in cell
order, selects each cell's kept samples and names its model's cache key, and queues the cell as soon as that
is done, so workers train the first criteria's cells while later ones are still being scored. A worker gets
the kept set as a mask over the pool and trains and evaluates the cell with `Pipeline.measure`, as a single
process would: a cell's numbers do not depend on the number of workers or threads (determinism.py,
compiled.py). Criteria registered in the main process alone (a notebook's) work too: workers never build one.

Each worker writes its cells to the run folder as it finishes them, so a run that dies loses only the cells in
flight. A worker that dies fails the cell it was measuring; the others go on.

Workers are spawned, not forked: the main process has used OpenMP threads, and a forked child can hang in
its next parallel region. They run with OMP_WAIT_POLICY=PASSIVE: compiled kernels always open parallel
regions of COMPILED_THREADS threads, and two workers whose idle OpenMP threads busy-wait for work took 297 s
instead of 12 s to train one default cell each on 2 cores (measured).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import numpy as np

from .config import RunConfig
from .errors import UserError
from .pipeline import Cell, Pipeline
from .outcome import Failure, attempt, describe, save
from .samples import Sample
from .store import RunStore

POLL_SECONDS = 1.0  # how often a waiting main process checks that its workers live, and workers that it does


@dataclass(frozen=True)
class Setup:
    """What every worker starts from: it reads no corpus and builds no tokenizer of its own."""

    cfg: RunConfig  # with the tasks the main process found runnable
    samples: dict[str, list[Sample]]  # the pool and the two test sets
    tokenizer: object
    threads: int  # torch threads of each worker
    parent: int  # the main process's pid: a worker whose parent is gone stops


@dataclass(frozen=True)
class Job:
    cell: Cell
    key: str
    kept: np.ndarray  # bool mask over the pool, in pool order
    model_key: str
    select_seconds: float


def worker_threads(workers: int) -> int:
    """Torch threads per worker: the cores this process may use, shared out."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


def run_in_workers(pipe: Pipeline, store: RunStore, pending: list[tuple[Cell, str]],
                   finished: Callable[[str, dict | Failure], None]) -> None:
    """Measure `pending` in min(cfg.workers, len(pending)) worker processes; `finished(key, outcome)` for each."""
    cfg, log = pipe.cfg, pipe.log
    n = min(cfg.workers, len(pending))
    pool = pipe.samples["pool"]
    pipe.build_tasks()  # shared stages first: the workers read them from the cache
    setup = Setup(replace(cfg, tasks=pipe.tasks), {k: pipe.samples[k] for k in ("pool", "in_domain", "ood")},
                  pipe.tokenizer, worker_threads(n), os.getpid())
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    with _passive_openmp():
        procs = {i: ctx.Process(target=_work, args=(i, setup, jobs, results), name=f"infoprune-worker-{i}",
                                daemon=True) for i in range(1, n + 1)}
        for proc in procs.values():
            proc.start()
    log(f"{n} worker processes, {setup.threads} torch thread{'s' * (setup.threads > 1)} each")
    cells: dict[str, Cell] = {}
    left: set[str] = set()  # queued or being measured
    running: dict[int, str] = {}  # worker -> the key it measures
    counted: set[str] = set()
    t_start, n_done = time.time(), 0

    def finish(key: str, outcome: dict | Failure, by: str) -> None:
        nonlocal n_done
        if key in counted:  # a dead worker's cell whose result came in after all
            return
        counted.add(key)
        n_done += 1
        left.discard(key)
        eta = (time.time() - t_start) / n_done * (len(pending) - n_done) / 60
        log(f"[cell {n_done}/{len(pending)}] {describe(cells[key])} ({by}), ~{eta:.1f} min left")
        finished(key, outcome)
        if isinstance(outcome, Failure) and outcome.whole_run:
            raise UserError(outcome.error)

    def handle(message: tuple) -> None:
        kind, worker, *rest = message
        if kind == "log":
            log(f"worker {worker}: {rest[0]}")
        elif kind == "start":
            running[worker] = rest[0]
        else:
            running.pop(worker, None)
            finish(rest[0], rest[1], f"worker {worker}")

    def pump(wait: bool) -> None:
        """Handle the messages that arrived; with `wait`, wait for one, or else look for workers that died."""
        while True:
            try:
                message = results.get(timeout=POLL_SECONDS) if wait else results.get_nowait()
            except queue.Empty:
                if wait:
                    bury()
                return
            handle(message)
            wait = False

    def bury() -> None:
        """Fail the cell of each worker that died, and every queued cell once none is left."""
        dead = [i for i, proc in procs.items() if not proc.is_alive()]
        pump(wait=False)  # what they sent before they ended
        for i in dead:
            proc = procs.pop(i)
            if i in running:
                why = " (killed: out of memory?)" if proc.exitcode == -signal.SIGKILL else ""
                fail(running.pop(i), f"its worker process died with exit code {proc.exitcode}{why}", f"worker {i}")
        if not procs:
            for key in sorted(left, key=list(cells).index):
                fail(key, "not measured: every worker process died", "no worker left")

    def fail(key: str, error: str, by: str) -> None:
        if key not in counted:
            save(store, cells[key], key, Failure(error, ""))
            finish(key, Failure(error, ""), by)

    try:
        for cell, key in pending:
            cells[key] = cell
            t0 = time.time()
            chosen = attempt(lambda: pipe.kept(cell), pipe.world)  # scores the pool when the cache has no entry
            if isinstance(chosen, Failure):
                save(store, cell, key, chosen)
                finish(key, chosen, "main process")
                continue
            ids = {s.id for s in chosen}
            mask = np.array([s.id in ids for s in pool], dtype=bool)
            jobs.put(Job(cell, key, mask, pipe.model_key(cell, chosen), time.time() - t0))
            left.add(key)
            pump(wait=False)
        for _ in procs:
            jobs.put(None)
        while left:
            pump(wait=True)
        for proc in procs.values():
            proc.join(timeout=60)  # each saw the end marker and is exiting
    finally:
        for proc in procs.values():
            proc.terminate()  # a worker exits through Python's cleanup (`_stop`), so nothing of it leaks
        for proc in procs.values():
            proc.join()


def _work(index: int, setup: Setup, jobs, results) -> None:
    """A worker: measure queued cells until told to stop, writing each to the run folder, then telling why."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops its workers
    signal.signal(signal.SIGTERM, _stop)
    torch.set_num_threads(setup.threads)
    pipe = Pipeline.measuring(setup.cfg, setup.samples, setup.tokenizer,
                              lambda msg: results.put(("log", index, msg)))
    store = RunStore(setup.cfg.out)
    for job in _jobs(jobs, setup.parent):
        results.put(("start", index, job.key))
        kept = [s for s, keep in zip(setup.samples["pool"], job.kept) if keep]
        try:
            outcome = attempt(lambda: pipe.measure(job.cell, job.key, kept, job.model_key, job.select_seconds),
                              pipe.world)
        except UserError as exc:  # bad input: the main process stops the run
            outcome = Failure(str(exc), "", whole_run=True)
        if not (isinstance(outcome, Failure) and outcome.whole_run):
            save(store, job.cell, job.key, outcome)
        results.put(("done", index, job.key, outcome))


def _stop(signum, frame) -> None:
    """SIGTERM from the main process: exit through Python's cleanup. Killed outright, a worker left behind the
    semaphores its libraries had made, and the resource tracker warned of them at shutdown."""
    raise SystemExit(128 + signum)


def _jobs(jobs, parent: int) -> Iterator[Job]:
    """Queued jobs until the end marker, or until the main process is gone: a killed run stops its workers
    after the cells they are measuring."""
    while os.getppid() == parent:
        try:
            job = jobs.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if job is None:
            return
        yield job


@contextlib.contextmanager
def _passive_openmp() -> Iterator[None]:
    """OMP_WAIT_POLICY=PASSIVE in the environment the workers are spawned with, unless the user chose one."""
    if "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        del os.environ["OMP_WAIT_POLICY"]
