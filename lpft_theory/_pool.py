"""Worker processes for independent pieces of work (the campaign's tasks, the figures of ``reproduce``).

:func:`pool` is a :class:`concurrent.futures.ProcessPoolExecutor` of ``spawn``-ed processes, each set up
once by :func:`_start` with what the parent's computations assume: float64 (``jax_enable_x64``), the
parent's persistent compilation cache (:mod:`lpft_theory._cache`), warnings and progress bars off (the
parent reports its own; ``TQDM_DISABLE``) and SIGINT ignored. Processes rather than threads: two concurrent XLA executions from one process
deadlocked on the CPU backend (jax 0.10, 2 cores).

**Interrupts.** A Ctrl-C in a terminal reaches every process of the foreground group. The workers
never see it: they are spawned with SIGINT and SIGTERM blocked (the signal mask survives ``exec``, so
even a worker still importing the package is not interrupted) and ignore SIGINT once set up. The parent
alone reports it in its one line; the command line's handler then calls :func:`terminate_all`, which
kills the workers of every live pool so that none outlives the program (``tests/cli/test_interrupt.py``);
multiprocessing's resource tracker then removes what they leave, quietly (:func:`_quiet_resource_tracker`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import signal
import threading

_LIVE: set = set()
_LOCK = threading.Lock()


def default_workers() -> int:
    """The number of worker processes used unless told otherwise: min(2, CPU count)."""
    return max(1, min(2, os.cpu_count() or 1))


def _start(cache: str) -> None:
    """The initializer of every worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["TQDM_DISABLE"] = "1"  # tqdm >= 4.66 reads its defaults from TQDM_* variables
    try:  # a thread lock for tqdm: its default one holds a named semaphore, which a killed worker would
        from tqdm import tqdm  # leave registered (the resource tracker then warns at the program's end)

        tqdm.set_lock(threading.RLock())
    except ImportError:
        pass
    import warnings

    warnings.simplefilter("ignore")
    import jax

    jax.config.update("jax_enable_x64", True)
    if cache:
        from . import _cache

        _cache.use_cache_dir(cache)


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (once) with its stderr on the null device.

    The tracker removes the named semaphores a killed worker leaves (tqdm's and the queues'); on an
    interrupt the workers are killed on purpose, and its warnings about them would follow the program's
    one line. The redirection lasts only while the tracker is spawned."""
    from multiprocessing import resource_tracker

    if getattr(resource_tracker._resource_tracker, "_fd", None) is not None:
        return
    try:
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(null, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


@contextlib.contextmanager
def pool(workers: int):
    """A process pool of ``workers`` spawned processes set up by :func:`_start` (module docstring); on
    leaving, the tasks are waited for and the processes joined, or, when leaving by an exception, the
    pending tasks are cancelled and the processes killed."""
    import jax

    cache = jax.config.jax_compilation_cache_dir or ""
    _quiet_resource_tracker()
    ex = concurrent.futures.ProcessPoolExecutor(max_workers=int(workers), mp_context=multiprocessing.get_context(
        "spawn"), initializer=_start, initargs=(cache,))
    with _LOCK:
        _LIVE.add(ex)
    try:
        yield _Pool(ex)
    except BaseException:
        _kill(ex)
        raise
    else:
        ex.shutdown(wait=True)
    finally:
        with _LOCK:
            _LIVE.discard(ex)


class _Pool:
    """The executor of :func:`pool` with ``submit`` run with SIGINT and SIGTERM blocked in the calling
    thread: the executor spawns its processes inside ``submit``, and they inherit the mask."""

    _BLOCK = {signal.SIGINT, signal.SIGTERM}

    def __init__(self, ex):
        self._ex = ex

    def submit(self, fn, /, *args, **kwargs):
        old = signal.pthread_sigmask(signal.SIG_BLOCK, self._BLOCK)
        try:
            return self._ex.submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _kill(ex) -> None:
    procs = list((getattr(ex, "_processes", None) or {}).values())
    for p in procs:
        try:
            p.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass
    try:
        ex.shutdown(wait=False, cancel_futures=True)
    except Exception:  # noqa: BLE001
        pass
    for p in procs:
        try:
            p.join(timeout=2.0)
        except Exception:  # noqa: BLE001
            pass


def terminate_all() -> int:
    """Kill the worker processes of every live :func:`pool` (the interrupt handler calls it); returns how
    many pools there were."""
    with _LOCK:
        live = list(_LIVE)
        _LIVE.clear()
    for ex in live:
        _kill(ex)
    if live:  # what a normal exit would do: release the pools' semaphores (else the resource tracker warns)
        try:
            from multiprocessing import util

            util._run_finalizers(0)
            util._run_finalizers()
        except Exception:  # noqa: BLE001 - never fail while exiting
            pass
    return len(live)
