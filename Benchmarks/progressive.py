#!/usr/bin/env python3
"""Merge tail latency of progressive jobs (issue 13): how long a user waits after the last chunk, by job length.

Each run is a real `helios job run` of N chunks, each a `helios-synth render` of `--frames` frames (local workers,
`--concurrency` at once), merged progressively by the native incremental stitcher. The tail is the job's own
`mergeTailMs` (`helios job status --json`): from the last chunk's completion to the durable merged file. Job lengths
are interleaved, `--reps` runs each, a fresh job directory and store per run; the table prints the median tail of
each length and its ratio to the shortest job's (goal: flat, every ratio within 1.5).

Usage: python3 Benchmarks/progressive.py [--counts 12,96,768] [--reps 3] [--frames 1] [--config release]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def one_job(helios, synth, count, args):
    work = tempfile.mkdtemp(prefix=f"helios-bench-progressive-{count}-")
    try:
        command = (f"{synth} render --start-frame {{start}} --frame-count {{count}} --fps 30 --size {args.size} "
                   f"-o {{output}}")
        width, height = args.size.split("x")
        run([helios, "job", "plan", "--id", f"tail{count}", "--frames", str(count * args.frames), "--fps", "30",
             "--width", width, "--height", height, "--chunk-size", str(args.frames), "--command", command,
             "--output-pattern", "chunks/c-{chunk}.mp4", "-o", "spec.json"], cwd=work)
        store = os.path.join(work, "store")
        started = time.monotonic()
        run([helios, "job", "run", "spec.json", "--store", store, "--concurrency", str(args.concurrency), "--quiet"], cwd=work)
        wall = time.monotonic() - started
        status = json.loads(run([helios, "job", "status", f"tail{count}", "--store", store, "--json"], cwd=work).stdout)
        metrics = status["metrics"]
        if status["state"] != "completed" or not metrics.get("mergeProgressive"):
            sys.exit(f"job of {count} chunks: {status['state']}, progressive={metrics.get('mergeProgressive')}: {status.get('error')}")
        return metrics["mergeTailMs"], metrics.get("mergeDurationMs"), wall
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="12,96,768")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--frames", type=int, default=1, help="frames per chunk")
    parser.add_argument("--size", default="128x72")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--config", default="release")
    parser.add_argument("--bin", default=None, help="directory holding helios and helios-synth (default: .build/CONFIG)")
    args = parser.parse_args()
    products = args.bin or os.path.join(ROOT, ".build", args.config)
    helios, synth = os.path.join(products, "helios"), os.path.join(products, "helios-synth")
    counts = [int(n) for n in args.counts.split(",")]
    samples = {n: [] for n in counts}
    before = load()
    for rep in range(args.reps):
        for n in counts:
            tail, merge, wall = one_job(helios, synth, n, args)
            samples[n].append((tail, merge, wall))
            print(f"rep {rep + 1}: {n} chunks: tail {tail:.3f} ms, job {wall:.1f} s", file=sys.stderr, flush=True)
    base = statistics.median(t for t, _, _ in samples[counts[0]])
    print(f"\n{args.bin or args.config + ' build'}, {args.frames}-frame {args.size} helios-synth chunks, {args.concurrency} local workers, "
          f"{args.reps} runs each (interleaved); load average {before} -> {load()}\n")
    print(f"| chunks | merge tail, median ms | tails of the runs, ms | ratio to {counts[0]} chunks | job wall s, median |")
    print("|---|---|---|---|---|")
    for n in counts:
        tails = [t for t, _, _ in samples[n]]
        median = statistics.median(tails)
        ratio = median / base if base else float("inf")
        print(f"| {n} | {median:.2f} | {', '.join(f'{t:.2f}' for t in tails)} | {ratio:.2f} | "
              f"{statistics.median(w for _, _, w in samples[n]):.1f} |")
    worst = max(statistics.median(t for t, _, _ in samples[n]) for n in counts) / base if base else float("inf")
    print(f"\nflat within 1.5x (goal): {'yes' if worst <= 1.5 else 'no'} (largest ratio {worst:.2f})")


if __name__ == "__main__":
    main()
