r"""Spread the batch axis of a batched solve over every visible device (``jax.sharding``).

A batch of B independent problems is split into contiguous blocks along its leading
axis, one block per device, with a one-dimensional :class:`jax.sharding.Mesh` (axis
name ``"batch"``) and :class:`jax.sharding.NamedSharding` ``P("batch")``. The solve
runs under :func:`jax.shard_map`, so each device runs its *own* adaptive while-loop
on its block: a device stops when the slowest member *of its block* is done, not when
the slowest member of the whole batch is (lockstep is per device; see
:mod:`lpft_theory.scale.batch` for grouping members of similar stiffness).

Nothing here is specific to one host. After ``jax.distributed.initialize()`` on every
process, ``jax.devices()`` lists the devices of all hosts, :func:`batch_mesh` spans
them, :func:`shard_batch` builds each global array from the host copy with
:func:`jax.make_array_from_callback` (each process only materialises the blocks of its
own devices) and :func:`gather` brings the result back to every process with
``multihost_utils.process_allgather``. On CPU, several devices can be simulated with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before JAX is imported).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

#: Name of the mesh axis the batch is split over.
AXIS = "batch"


def batch_mesh(devices: Optional[Sequence] = None) -> Mesh:
    """A 1-D mesh named ``"batch"`` over ``devices`` (default: all of ``jax.devices()``)."""
    devs = list(jax.devices() if devices is None else devices)
    if not devs:
        raise ValueError("devices: need at least one device")
    return Mesh(np.asarray(devs, dtype=object), (AXIS,))


def batch_size(tree) -> int:
    """Size of the common leading axis of every array leaf of ``tree``."""
    sizes = {np.shape(a)[0] for a in jax.tree_util.tree_leaves(tree) if np.ndim(a) > 0}
    if len(sizes) != 1:
        raise ValueError(f"batch: leaves must share one leading batch axis, got sizes {sorted(sizes)}")
    return sizes.pop()


def pad_batch(tree, multiple: int):
    """Pad the leading axis to a multiple of ``multiple`` by repeating the last member.

    Returns ``(padded_tree, original_size)``. Padded members are real copies (so the
    solver sees finite, well-posed problems) and are dropped again by the caller.
    """
    n = batch_size(tree)
    extra = (-n) % int(multiple)
    if extra == 0:
        return tree, n

    def pad(a):
        a = jnp.asarray(a)
        return jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)], axis=0)

    return jax.tree_util.tree_map(pad, tree), n


def shard_batch(tree, mesh: Mesh):
    """Place every leaf with its leading axis split over ``mesh`` (``NamedSharding(mesh, P("batch"))``).

    Uses :func:`jax.make_array_from_callback`, which works unchanged with several
    processes (each one only builds the blocks of its addressable devices). The
    leading axis must be a multiple of the mesh size (see :func:`pad_batch`).
    """
    sharding = NamedSharding(mesh, P(AXIS))

    def put(a):
        host = np.asarray(a)
        if host.shape[0] % mesh.size:
            raise ValueError(f"batch: leading axis {host.shape[0]} is not a multiple of the {mesh.size} devices")
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree_util.tree_map(put, tree)


def replicate(tree, mesh: Mesh):
    """Place every leaf fully replicated on ``mesh`` (``P()``)."""
    sharding = NamedSharding(mesh, P())
    return jax.tree_util.tree_map(lambda a: jax.device_put(jnp.asarray(a), sharding), tree)


_CACHE: dict = {}


def sharded(batched_fn: Callable, mesh: Mesh) -> Callable:
    """``jit(shard_map(batched_fn))`` with ``(batched, replicated) -> batched`` specs.

    ``batched_fn(batched, replicated)`` must already handle a (local) batch, e.g. a
    ``jax.vmap``. Cached per ``(batched_fn, mesh)`` so repeated calls compile once.
    """
    key = (batched_fn, mesh)
    if key not in _CACHE:
        f = jax.shard_map(batched_fn, mesh=mesh, in_specs=(P(AXIS), P()), out_specs=P(AXIS), check_vma=False)
        _CACHE[key] = jax.jit(f)
    return _CACHE[key]


def run_sharded(batched_fn: Callable, batched, replicated=(), *, mesh: Optional[Mesh] = None):
    """Run ``batched_fn(batched, replicated)`` with the batch split over ``mesh``'s devices.

    Pads the batch to a multiple of the device count, shards it, runs the cached
    ``jit(shard_map(...))`` and strips the padding. The result is a (global) jax array
    tree with the original leading size (numpy, gathered on every process, when there are several).
    """
    mesh = batch_mesh() if mesh is None else mesh
    padded, n = pad_batch(batched, mesh.size)
    out = sharded(batched_fn, mesh)(shard_batch(padded, mesh), replicate(replicated, mesh))
    if jax.process_count() > 1:  # pragma: no cover - a global array is not addressable here; gather first
        out = gather(out)
    return jax.tree_util.tree_map(lambda a: a[:n], out)


def gather(tree):
    """Numpy copies of a (possibly multi-host) result on every process."""
    if jax.process_count() > 1:  # pragma: no cover - needs several hosts
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree_util.tree_map(np.asarray, tree)
