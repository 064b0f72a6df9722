"""bitsim.verify: exhaustive pair verification, in process and sharded on a real Dask LocalCluster (2
workers), with identical results, and a worker lost mid-run."""

import contextlib
import os
import threading
import time

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster
from distributed.comm.core import CommClosedError

from bitsim import ops
from bitsim.cli import main
from bitsim.verify import shard, verify_pairs


def test_every_e5m2_pair_matches_the_reference_and_the_digest_ignores_sharding():
    one = verify_pairs("add", "e5m2", rows=64)
    assert one.ok and one.pairs == 1 << 16 and one.mismatches == 0
    assert verify_pairs("add", "e5m2", rows=16).digest == one.digest
    assert verify_pairs("mul", "e5m2", rows=64).digest != one.digest


def test_fp16_shards_against_numpy_and_a_planted_mismatch(monkeypatch):
    """The fp16 path compares with NumPy's float64-then-cast; a wrong bitsim result is reported."""
    r = shard("div", "fp16", "rne", 0x3C00, 1)                      # 1.0 / every fp16
    assert r.pairs == 1 << 16 and r.mismatches == 0
    real = ops.mul

    def off_by_one(a, b, fmt, rounding):
        codes, flags = real(a, b, fmt, rounding)
        codes = codes.copy()
        codes[(a == 0x3C00) & (b == 0x4000)] ^= 1                      # 1 * 2 gives the wrong code
        return codes, flags
    monkeypatch.setattr(ops, "mul", off_by_one)
    bad = shard("mul", "fp16", "rne", 0x3C00, 1)
    assert bad.mismatches == 1 and bad.first == [(0x3C00, 0x4000, 0x4001, 0)]


def test_local_cluster_gives_the_in_process_result_even_when_a_worker_dies():
    want = verify_pairs("sub", "e4m3", "rtz", rows=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        before = set(client.scheduler_info()["workers"])
        result = {}
        run = threading.Thread(target=lambda: result.update(report=verify_pairs(
            "sub", "e4m3", "rtz", rows=2, scheduler=cluster.scheduler_address)))
        run.start()
        time.sleep(1.0)
        victim = sorted(before)[0]
        with contextlib.suppress(CommClosedError):                   # the worker process dies mid-run
            client.run(os._exit, 1, workers=[victim])
        run.join(timeout=240)
        assert not run.is_alive()
        assert victim not in set(client.scheduler_info()["workers"])
    got = result["report"]
    assert (got.pairs, got.mismatches, got.digest) == (want.pairs, want.mismatches, want.digest)
    assert want.pairs == 1 << 16 and want.mismatches == 0


def test_cli(capsys):
    assert main(["verify", "add", "e3m2", "--rows", "8", "--quiet", "--scheduler", "local"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS: add e3m2 rne: 4096 pairs, 0 mismatch(es); digest ")
    assert main(["verify", "add", "bf16"]) == 2
    assert "bf16 with 'rne' has no independent path" in capsys.readouterr().err
    with pytest.raises(ValueError, match="rows must be an int in 1..256"):
        verify_pairs("add", "e4m3", rows=0)
    with pytest.raises(ValueError, match="op must be one of add, sub, mul, div"):
        verify_pairs("fma", "e4m3")
