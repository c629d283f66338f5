"""Sharding the batch axis over devices gives the unsharded results.

Several CPU devices exist only if XLA_FLAGS is set before JAX is imported, so the
multi-device check runs in a subprocess.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

from lpft_theory.scale import sharding

SCRIPT = textwrap.dedent(
    """
    import json, warnings
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from lpft_theory import Problem
    from lpft_theory.scale import sharding
    from lpft_theory.scale.batch import simulate_batch

    warnings.simplefilter("ignore")
    ps = [Problem.random(seed=s, d=20, k=2, m=6, n=12, eps=0.2, head_scale=0.5 + 0.5 * s) for s in range(6)]
    fields = ("X", "y", "B0", "v0", "w_star")
    batch = Problem.from_arrays(**{f: np.stack([np.asarray(getattr(p, f)) for p in ps]) for f in fields})
    times = [0.0, 0.2, 0.7]
    plain = simulate_batch(batch, "ft", times)
    mesh = sharding.batch_mesh()
    sharded = simulate_batch(batch, "ft", times, mesh=mesh)          # 6 members padded to 8, 2 per device
    placed = sharding.shard_batch(np.arange(8.0), mesh)
    out = dict(
        n_devices=len(jax.devices()),
        mesh_size=mesh.size,
        placed_devices=len(placed.sharding.device_set),
        shard_shapes=sorted({s.data.shape[0] for s in placed.addressable_shards}),
        dv=float(np.max(np.abs(np.asarray(plain.v) - np.asarray(sharded.v)))),
        dB=float(np.max(np.abs(np.asarray(plain.B_S) - np.asarray(sharded.B_S)))),
        steps_equal=bool(np.array_equal(plain.num_steps, sharded.num_steps)),
        shape=list(np.shape(sharded.v)),
        moved=float(np.max(np.abs(np.asarray(plain.v[:, -1]) - np.asarray(plain.v[:, 0])))),
    )
    print("RESULT " + json.dumps(out))
    """
)


def test_sharded_equals_unsharded_on_4_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT "):])
    assert res["n_devices"] == 4 and res["mesh_size"] == 4
    assert res["placed_devices"] == 4 and res["shard_shapes"] == [2]
    assert res["shape"] == [6, 3, 2]
    assert res["moved"] > 1e-3  # the flow did something
    assert res["dv"] <= 1e-12 and res["dB"] <= 1e-12
    assert res["steps_equal"]


def test_pad_batch_repeats_last_member_and_mesh_on_one_device():
    tree = (jnp.arange(5.0), jnp.arange(10.0).reshape(5, 2))
    padded, n = sharding.pad_batch(tree, 4)
    assert n == 5
    np.testing.assert_array_equal(padded[0], [0, 1, 2, 3, 4, 4, 4, 4])
    np.testing.assert_array_equal(padded[1][-1], [8, 9])
    same, n = sharding.pad_batch(tree, 5)
    assert n == 5 and same[0].shape == (5,)
    mesh = sharding.batch_mesh()
    assert mesh.axis_names == ("batch",) and mesh.size >= 1
    with pytest.raises(ValueError, match="leading batch axis"):
        sharding.batch_size((jnp.zeros(3), jnp.zeros(4)))
    with pytest.raises(ValueError, match="device"):
        sharding.batch_mesh([])
