"""One executor for parallel work (tracks, training runs, sweep configurations): local processes
(joblib/loky) or a dask.distributed cluster.

Results stream back in input order with a bounded number of tasks in flight, so the parent can
write them out one by one and memory does not grow with the corpus.
"""
from __future__ import annotations

import collections
import logging
import os
from typing import Any, Callable, Iterable, Iterator

from tqdm import (
    tqdm,  # text bar: tqdm.auto would want ipywidgets (not installed) in notebooks
)

ENV_SCHEDULER = "SONGSPACE_DASK_SCHEDULER"
log = logging.getLogger(__name__)


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The Dask scheduler to use: ``scheduler`` if given, else ``$SONGSPACE_DASK_SCHEDULER``, else None."""
    return scheduler or os.environ.get(ENV_SCHEDULER) or None


def _local(fn, items, n_jobs):
    from joblib import Parallel, delayed

    if n_jobs == 1:  # in-process: no pickling, easy to debug and to monkeypatch in tests
        return (fn(it) for it in items)
    par = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator", pre_dispatch="2*n_jobs", batch_size=1)
    return par(delayed(fn)(it) for it in items)


def _dask(fn, items, address, max_in_flight):
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        n_workers = max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
        limit = max_in_flight or 2 * n_workers
        pending: collections.deque = collections.deque()
        # pure=False: a task is a computation with side effects (cache writes), never deduplicated
        for it in items:
            pending.append(client.submit(fn, it, pure=False))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def map_ordered(fn: Callable[[Any], Any], items: Iterable[Any], n_jobs: int = -1, scheduler: str | None = None,
                desc: str = "items", total: int | None = None, max_in_flight: int | None = None,
                progress: bool = True, unit: str = "item") -> Iterator[Any]:
    """Apply ``fn`` to every item in parallel and yield the results in input order (tracks of 01,
    training runs of 02-04, sweep configurations).

    Parameters
    ----------
    fn : callable
        A picklable module-level function of one item.
    items : iterable
        Work items (small: paths and parameters, not arrays).
    n_jobs : int
        Local worker processes (joblib semantics: -1 = all cores, 1 = in this process).
        Ignored on a Dask cluster.
    scheduler : str, optional
        Address of a dask.distributed scheduler (e.g. ``tcp://host:8786``); defaults to
        ``$SONGSPACE_DASK_SCHEDULER``; without either, local processes (loky).
    desc : str
        Label of the tqdm progress bar (items done, rate, time left).
    total : int, optional
        Number of items, for the progress bar's time left (taken from ``len(items)`` if possible).
    max_in_flight : int, optional
        Dask only: tasks submitted but not yet collected (default 2 per worker thread).
    progress : bool
        Show the progress bar.
    unit : str
        What an item is, in the bar's rate (``"track"``, ``"run"``, ``"config"``).

    Yields
    ------
    fn(item) for each item, in order.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    address = scheduler_address(scheduler)
    log.debug("%s: %s items on %s", desc, "?" if total is None else total,
              f"the Dask cluster at {address}" if address else f"local workers (n_jobs={n_jobs})")
    gen = _dask(fn, items, address, max_in_flight) if address else _local(fn, items, n_jobs)
    yield from tqdm(gen, total=total, desc=desc, unit=unit, disable=not progress)
