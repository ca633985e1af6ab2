#!/usr/bin/env python3
"""Times this crate against torch.nn.LSTM on the CPU, in one run, alternating, same thread count, and
prints medians and ratios (PyTorch time / our time: > 1 means we are faster).

Run by hand (needs `pip install torch`; builds our runner first):

    cargo build --release -p lstm --example bench_run
    python3 tools/bench_vs_pytorch.py                 # every configuration of the performance issue
    python3 tools/bench_vs_pytorch.py --quick         # a handful, to check quickly
    python3 tools/bench_vs_pytorch.py --threads 1 --rounds 5
    python3 tools/bench_vs_pytorch.py --only "B=64" --no-memory   # configurations whose name has "B=64"

Configurations (T = 100, F = H, LSTM):
  inference  B in {1, 16, 64, 256} x H in {128, 256, 512, 1024} x layers in {1, 2}
  training   one step (forward + backward + Adam), B = 64, H in {256, 512}, layers in {1, 2}
  streaming  one step per call, B = 1, H in {128, 256, 512} (PyTorch: the module with T = 1 and the state)
  memory     peak resident set of a process doing 20 training steps at B = 64, H = 512
  f16        opt-in f16 weights (ours: Stack::set_inference_weights(F16); PyTorch: quantize_dynamic with
             dtype=torch.float16, its f16-weight LSTM): streaming steps at H in {128, 256, 512} and inference at
             B in {1, 16}, H in {256, 512, 1024}; not in the geometric mean (`--only f16` runs these alone)
  i8         opt-in 8-bit weights (ours: Stack::set_inference_weights(I8); PyTorch: quantize_dynamic with
             dtype=torch.qint8, its int8 LSTM): the f16 rows' configurations plus B = 1 with two layers at
             H in {512, 1024} and B = 64 H = 512; not in the geometric mean (`--only i8`)
  stacked    stacked layers with small steps, where our forward runs as a layer wavefront: LSTM B = 1
             H = 64 with 4 layers, B = 1 H = 128 with 3, B = 16 H = 64 with 2; the GRU at B = 1 H = 128 with 2;
             not in the geometric mean (`--only stacked`)
  gru        the GRU beside it (ours: CellKind::Gru; PyTorch: torch.nn.GRU): inference, one layer,
             B in {1, 64}, H in {256, 512, 1024}, and the streaming step at H in {128, 256, 512}; not in
             the geometric mean (`--only gru`)
Also prints our achieved GFLOP/s and the fraction of the SGEMM peak measured in the same run with the
same GEMM crate (the input-projection shape 6400 x H x 4H), and per row the lowest and highest of the
per-round ratios ("rounds a-b"): on a shared machine a single round's ratio can stray far from the median.
Each of our runs starts 0.1 s after PyTorch's timing, once PyTorch's OpenMP workers have stopped spinning.
The inference rows with B >= 64 and H >= 256 also time that peak in every round, right after our run, and
print our GFLOP/s as a fraction of it (median over the rounds, and its range): the machine's speed moves
within a run, so the peak sampled once at the end says little about a given row.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.ao.quantization's notice

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
RUNNER = os.path.join(ROOT, "target", "release", "examples", "bench_run")


def ours(*args):
    out = subprocess.run([RUNNER, *map(str, args)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def torch_time(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def quantized(m, prec):
    """PyTorch's LSTM with its weights in `prec` ("f16": dynamic quantization to float16,
    activations stay f32; "i8": dynamic quantization to qint8, activations quantized per call;
    None: as is)."""
    if prec is None:
        return m
    dtype = {"f16": torch.float16, "i8": torch.qint8}[prec]
    return torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(m), {torch.nn.LSTM}, dtype=dtype)[0]


def torch_infer(T, B, H, L, reps, prec=None, cell="lstm"):
    m = quantized({"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](H, H, num_layers=L), prec)
    x = torch.randn(T, B, H)

    def f():
        with torch.no_grad():
            m(x)
    return torch_time(f, reps)


def torch_train(T, B, H, L, reps):
    m = torch.nn.LSTM(H, H, num_layers=L)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x, target = torch.randn(T, B, H), torch.randn(T, B, H)

    def f():
        opt.zero_grad()
        y, _ = m(x)
        torch.nn.functional.mse_loss(y, target).backward()
        opt.step()
    return torch_time(f, reps)


def torch_step(H, reps, prec=None, cell="lstm"):
    m = quantized({"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](H, H), prec)
    x = torch.randn(1, 1, H)
    state = (torch.zeros(1, 1, H), torch.zeros(1, 1, H)) if cell == "lstm" else torch.zeros(1, 1, H)

    def f():
        nonlocal state
        with torch.no_grad():
            for _ in range(100):
                _, state = m(x, state)
    return torch_time(f, reps) / 100


def torch_peak_rss(threads):
    code = (
        "import torch,resource;torch.set_num_threads(%d);m=torch.nn.LSTM(512,512);o=torch.optim.Adam(m.parameters());"
        "x=torch.randn(100,64,512);t=torch.randn(100,64,512)\n"
        "for _ in range(20):\n o.zero_grad();y,_=m(x);torch.nn.functional.mse_loss(y,t).backward();o.step()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)" % threads
    )
    return int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip())


ONLY = None

# Seconds between PyTorch's timing and ours in a round (see `compare`). Measured: a stacked
# B = 1 H = 128 forward of ours started right after a PyTorch op ran up to 4x slower (its
# OpenMP worker spinning on one of the two cores); after a 50 ms pause, as fast as alone.
SETTLE_S = 0.1


def compare(name, ours_args, torch_fn, rounds, out_rows, peak_args=None):
    if ONLY and ONLY not in name:
        return
    o, p, frac, peaks = [], [], [], []
    for _ in range(rounds):  # alternate, so both see the same machine state
        p.append(torch_fn())
        # PyTorch's OpenMP workers keep spinning for a few ms after its last op (the default wait
        # policy): let them go idle, so our run does not share the cores with them.
        time.sleep(SETTLE_S)
        r = ours(*ours_args)
        o.append(r["median_s"])
        if peak_args:
            # The SGEMM peak right after our run, in the same round: the machine's speed moves
            # within a run, so one peak sample per run says little about a given row.
            peaks.append(ours(*peak_args)["gflops"])
            frac.append(r["gflops"] / peaks[-1])
    mo, mp = statistics.median(o), statistics.median(p)
    out_rows.append((name, mp, mo, mp / mo, r.get("gflops", 0.0)))
    # The spread of the per-round ratios (PyTorch's round i over ours): how far one round's
    # ratio strays on this machine, next to the ratio of the medians.
    per_round = [x / y for x, y in zip(p, o)]
    peak = (f"   peak {statistics.median(peaks):.0f} GFLOP/s, ours at {statistics.median(frac) * 100:.0f}%"
            f" ({min(frac) * 100:.0f}-{max(frac) * 100:.0f}%)") if peak_args else ""
    print(f"{name:<34} torch {mp * 1e3:10.3f} ms   ours {mo * 1e3:10.3f} ms   ratio {mp / mo:6.2f}x   ours {r.get('gflops', 0):7.1f} GFLOP/s"
          f"   rounds {min(per_round):.2f}-{max(per_round):.2f}x{peak}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--only", help="run only the configurations whose name contains this text")
    a = ap.parse_args()
    global ONLY
    ONLY = a.only
    if not os.path.exists(RUNNER):
        sys.exit(f"{RUNNER} is missing: cargo build --release -p lstm --example bench_run")
    torch.set_num_threads(a.threads)
    th, T = a.threads, 100
    print(f"torch {torch.__version__}, threads {th}, T = {T}, rounds {a.rounds} x reps {a.reps}, medians", flush=True)
    rows = []
    infer = [(64, 256, 1), (1, 256, 1), (16, 512, 1), (256, 512, 2)] if a.quick else [
        (B, H, L) for L in (1, 2) for B in (1, 16, 64, 256) for H in (128, 256, 512, 1024)]
    for B, H, L in infer:
        # Large-batch rows also time the SGEMM peak in each round (the 85 % target).
        peak_args = ("gemm", 6400, H, 4 * H, a.reps, th) if B >= 64 and H >= 256 else None
        compare(f"infer B={B} H={H} L={L}", ("infer", T, B, H, L, a.reps, th), lambda: torch_infer(T, B, H, L, a.reps), a.rounds, rows, peak_args)
    train = [(256, 1)] if a.quick else [(H, L) for L in (1, 2) for H in (256, 512)]
    for H, L in train:
        compare(f"train B=64 H={H} L={L}", ("train", T, 64, H, L, a.reps, th), lambda: torch_train(T, 64, H, L, a.reps), a.rounds, rows)
    for H in ((256,) if a.quick else (128, 256, 512)):
        compare(f"step B=1 H={H}", ("step", H, a.reps * 4, th), lambda: torch_step(H, a.reps * 4), a.rounds, rows)
    for prec in ("f16", "i8"):
        for H in ((256,) if a.quick else (128, 256, 512)):
            compare(f"{prec} step B=1 H={H}", ("step", H, a.reps * 4, th, prec), lambda: torch_step(H, a.reps * 4, prec), a.rounds, rows)
        grid = [(1, 512, 1)] if a.quick else [(B, H, 1) for B in (1, 16) for H in (256, 512, 1024)]
        if prec == "i8" and not a.quick:
            grid += [(1, 512, 2), (1, 1024, 2), (64, 512, 1)]
        for B, H, L in grid:
            compare(f"{prec} infer B={B} H={H} L={L}", ("infer", T, B, H, L, a.reps, th, "lstm", prec), lambda: torch_infer(T, B, H, L, a.reps, prec), a.rounds, rows)
    for B, H in [(1, 512)] if a.quick else [(B, H) for B in (1, 64) for H in (256, 512, 1024)]:
        compare(f"gru infer B={B} H={H} L=1", ("infer", T, B, H, 1, a.reps, th, "gru"), lambda: torch_infer(T, B, H, 1, a.reps, cell="gru"), a.rounds, rows)
    for H in ((256,) if a.quick else (128, 256, 512)):
        compare(f"gru step B=1 H={H}", ("step", H, a.reps * 4, th, "f32", "gru"), lambda: torch_step(H, a.reps * 4, cell="gru"), a.rounds, rows)
    # Stacked layers with small steps, where our forward runs as a layer wavefront.
    for cell, B, H, L in [] if a.quick else [("lstm", 1, 64, 4), ("lstm", 1, 128, 3), ("lstm", 16, 64, 2), ("gru", 1, 128, 2)]:
        compare(f"stacked {cell} infer B={B} H={H} L={L}", ("infer", T, B, H, L, a.reps, th, cell),
                lambda: torch_infer(T, B, H, L, a.reps, cell=cell), a.rounds, rows)
    inf = [r for r in rows if r[0].startswith("infer")]
    if inf:
        gm = statistics.geometric_mean([r[3] for r in inf])
        print(f"\ninference geometric-mean ratio: {gm:.2f}x over {len(inf)} configurations")
    for H in sorted({int(r[0].split("H=")[1].split()[0]) for r in rows if r[0].startswith(("infer", "train"))}):
        peak = ours("gemm", 6400, H, 4 * H, 5, th)["gflops"]
        print(f"SGEMM peak (same crate, 6400x{H}x{4 * H}, {th} threads): {peak:.1f} GFLOP/s", flush=True)
    if not a.no_memory:
        ours_kb = ours("train", T, 64, 512, 1, 20, th)["peak_rss_kb"]
        torch_kb = torch_peak_rss(th)
        print(f"peak RSS, 20 training steps B=64 H=512: ours {ours_kb / 1024:.0f} MiB, torch {torch_kb / 1024:.0f} MiB, ratio {ours_kb / torch_kb:.2f}")


if __name__ == "__main__":
    main()
