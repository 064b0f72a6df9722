"""Running independent tasks on Dask (``dask.distributed``, an optional extra: ``pip install 'bitsim[dask]'``).

``run_tasks(fn, tasks, keys, scheduler)`` runs ``fn(*task)`` for every task: in this process, in order,
when ``scheduler`` is None; otherwise as Dask futures, each under its own key,
to a ``LocalCluster`` of single-threaded worker processes (``scheduler="local"``; one Dask thread each,
and each task runs with one Numba thread, ``numba.set_num_threads(1)``, so that workers = cores) or to the scheduler at an address, and returns the results
in task order. A task whose worker is lost is recomputed elsewhere
(up to ``retries`` times); each key's result is taken once, so nothing is lost or counted twice. Used by
``bitsim verify`` (shards of an exhaustive check) and ``bitsim reproduce`` (training runs).
"""

from __future__ import annotations


def run_tasks(fn, tasks: list, keys: list[str], scheduler=None, workers: int = 2, retries: int = 3,
              on_done=None) -> list:
    """[fn(*task) for task in tasks]: in this process, in order (``scheduler`` None), or on Dask;
    ``on_done(result)`` after each completes."""
    if scheduler is None:
        results = []
        for task in tasks:
            results.append(fn(*task))
            if on_done is not None:
                on_done(results[-1])
        return results
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImportError("a scheduler needs dask.distributed: pip install 'bitsim[dask]'") from None
    if len(set(keys)) != len(keys):
        raise ValueError("run_tasks: keys must be unique")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int; got {workers!r}")
    local = scheduler == "local"
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) \
        if local else None
    client = Client(cluster if cluster is not None else scheduler)
    call = (_one_numba_thread, fn) if local else (fn,)
    try:
        futures = [client.submit(*call, *task, key=key, retries=retries, pure=False) for task, key in zip(tasks, keys)]
        for future in as_completed(futures):
            if on_done is not None:
                on_done(future.result())
        return [f.result() for f in futures]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _one_numba_thread(fn, *args):
    """fn(*args) with Numba's parallel kernels on one thread (a local worker owns one core). The thread
    count is set at run time: Numba refuses a changed NUMBA_NUM_THREADS once its pool is running."""
    import numba
    numba.set_num_threads(1)
    return fn(*args)
