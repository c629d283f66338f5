"""``benchmarks/fused_profile.py --tiny`` end to end: every section is written, the three solves of (a) agree with an
independent scipy solve, and the fused loop's trajectories equal diffrax's Tsit5 to the tolerance (no timing asserted)."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_fused_profile_tiny(tmp_path):
    out = tmp_path / "fp"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "fused_profile.py"), "--tiny", "--out",
                           str(out)], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "fused_profile.json").read_text())
    assert res["tiny"] is True and res["environment"]["load_average"]
    rows = res["step_control"]["rows"]
    assert [r["side"] for r in rows][-1] == "tsit5_fused" and len(rows) == 3
    for r in rows:
        assert r["steps"] > 0 and r["max_rel_err"] < 1e-7  # rtol 1e-8 against scipy DOP853 at 1e-12
    assert rows[0]["rejected"] is not None and rows[0]["accepted"] + rows[0]["rejected"] == rows[0]["steps"]
    dens = res["save_density"]["rows"]
    assert {r["save_times"] for r in dens} == {3, 21}
    assert all(r["max_abs_diff_v_vs_tsit5"] < 1e-6 for r in dens)
    assert {(r["solver"], r["group_size"]) for r in res["group_sizes"]["rows"]} == {
        (s, g) for s in ("tsit5", "tsit5_fused") for g in (1, 2, 4)}
    md = (out / "fused_profile.md").read_text()
    assert "(a) Step control" in md and "(b) Save-time density" in md and "(c) Group size" in md
