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
import threading
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
    """Measure `pending` in min(cfg.workers, len(pending)) worker processes; `finished(key, outcome)` for each.

    The main thread scores, selects and queues; a listener thread takes the workers' messages meanwhile, so
    cells are reported as they finish even while the main thread embeds the pool for minutes.
    """
    cfg, log = pipe.cfg, pipe.log
    n = min(cfg.workers, len(pending))
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
    book = Book({key: cell for cell, key in pending}, store, log, finished, procs)
    listener = threading.Thread(target=book.listen, args=(results,), name="infoprune-listener", daemon=True)
    listener.start()
    try:
        for cell, key in pending:
            if book.error:
                break
            t0 = time.time()
            chosen = attempt(lambda: pipe.kept(cell), pipe.world)  # scores the pool when the cache has no entry
            if isinstance(chosen, Failure):
                save(store, cell, key, chosen)
                book.finish(key, chosen, "main process")
                continue
            book.queue(key)
            jobs.put(Job(cell, key, pipe.kept_mask(chosen), pipe.model_key(cell, chosen), time.time() - t0))
        for _ in procs:
            jobs.put(None)
        book.all_queued.set()
        listener.join()
        if book.error:
            raise UserError(book.error)
        for proc in procs.values():
            proc.join(timeout=60)  # each saw the end marker and is exiting
    finally:
        book.stop.set()
        for proc in procs.values():
            proc.terminate()  # a worker exits through Python's cleanup (`_stop`), so nothing of it leaks
        for proc in procs.values():
            proc.join(timeout=30)
            if proc.is_alive():  # stuck in native code past its SIGTERM
                proc.kill()
                proc.join()


class Book:
    """The cells in flight and what came of them: fed by the main thread (what it queues, or fails itself) and
    by the listener thread (what the workers report, and workers that die)."""

    def __init__(self, cells: dict[str, Cell], store: RunStore, log: Callable[[str], None],
                 finished: Callable[[str, dict | Failure], None], procs: dict[int, mp.Process]) -> None:
        self.cells, self.store, self.log, self.finished, self.procs = cells, store, log, finished, procs
        self.lock = threading.Lock()
        self.left: list[str] = []  # queued or being measured, in queue order
        self.running: dict[int, str] = {}  # worker -> the key it measures
        self.counted: set[str] = set()
        self.buried: set[int] = set()
        self.error = ""  # bad input met in a worker: the run stops
        self.all_queued, self.stop = threading.Event(), threading.Event()
        self.t_start = time.time()

    def queue(self, key: str) -> None:
        with self.lock:
            self.left.append(key)

    def finish(self, key: str, outcome: dict | Failure, by: str) -> None:
        with self.lock:
            if key in self.counted:  # a dead worker's cell whose result came in after all
                return
            self.counted.add(key)
            if key in self.left:
                self.left.remove(key)
            n, total = len(self.counted), len(self.cells)
            eta = (time.time() - self.t_start) / n * (total - n) / 60
            self.log(f"[cell {n}/{total}] {describe(self.cells[key])} ({by}), ~{eta:.1f} min left")
            self.finished(key, outcome)
            if isinstance(outcome, Failure) and outcome.whole_run:
                self.error = outcome.error
                self.stop.set()

    def listen(self, results) -> None:
        """The listener thread: handle the workers' messages until every queued cell is accounted for."""
        try:
            while not self.stop.is_set():
                with self.lock:
                    if self.all_queued.is_set() and not self.left:
                        return
                try:
                    message = results.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    self.bury(results)
                    continue
                self.handle(message)
        except BaseException as exc:  # never leave the main thread waiting on a listener that died
            self.error = f"the worker listener failed: {type(exc).__name__}: {exc}"
            self.stop.set()

    def handle(self, message: tuple) -> None:
        kind, worker, *rest = message
        if kind == "log":
            self.log(f"worker {worker}: {rest[0]}")
        elif kind == "start":
            self.running[worker] = rest[0]
        else:
            self.running.pop(worker, None)
            self.finish(rest[0], rest[1], f"worker {worker}")

    def bury(self, results) -> None:
        """Fail the cell of each worker that died, and every queued cell once no worker is left."""
        dead = [i for i, proc in self.procs.items() if i not in self.buried and not proc.is_alive()]
        while True:  # what they sent before they ended
            try:
                self.handle(results.get_nowait())
            except queue.Empty:
                break
        for i in dead:
            self.buried.add(i)
            if i in self.running:
                code = self.procs[i].exitcode
                why = " (killed: out of memory?)" if code == -signal.SIGKILL else ""
                self.fail(self.running.pop(i), f"its worker process died with exit code {code}{why}", f"worker {i}")
        if len(self.buried) == len(self.procs):
            for key in list(self.left):
                self.fail(key, "not measured: every worker process died", "no worker left")

    def fail(self, key: str, error: str, by: str) -> None:
        if key not in self.counted:
            save(self.store, self.cells[key], key, Failure(error, ""))
            self.finish(key, Failure(error, ""), by)


def _work(index: int, setup: Setup, jobs, results) -> None:
    """A worker: measure queued cells until the end marker, writing each to the run folder, then telling the
    main process."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops its workers
    signal.signal(signal.SIGTERM, lambda signum, frame: _stop(signum, results))
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


def _stop(signum: int, results) -> None:
    """SIGTERM from the main process: exit through Python's cleanup. Killed outright, a worker left behind the
    semaphores its libraries had made, and the resource tracker warned of them at shutdown. Messages not yet
    sent are dropped: the main process has stopped reading, and waiting to flush them into a full pipe hung
    the worker's exit."""
    results.cancel_join_thread()
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
