#!/usr/bin/env python3
"""Times helios-stitch against `ffmpeg -f concat -c copy` and the `cat` byte-copy floor, in one run.

Also what `--audio exact` costs: helios-stitch re-encoding the audio against ffmpeg's concat re-encoding the same
audio (video copied, AAC at the chunks' 128 kb/s), as seconds of audio per second of wall time and per second of
wall time beyond the copy-only stitch.

Generates three workloads (cached under Benchmarks/.work), then for each runs every tool several times
(interleaved, warm page cache) and prints median wall time, the ratio to ffmpeg, and peak RSS from
/usr/bin/time -v. Usage: python3 Benchmarks/run.py [--reps N] [--bin PATH_TO_helios-stitch] [--workloads NAME,...]
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", ".work")
WORKLOADS = [  # name, chunks, seconds per chunk, size
    ("10x6s-1080p", 10, 6, "1920x1080"),
    ("120x1s-720p", 120, 1, "1280x720"),
    ("4x30s-1080p", 4, 30, "1920x1080"),
]

def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)

def generate(name, count, seconds, size):
    d = os.path.join(WORK, name)
    marker = os.path.join(d, ".done")
    if os.path.exists(marker):
        return d
    os.makedirs(d, exist_ok=True)
    frames = seconds * 30
    procs = []
    for k in range(count):
        start = k * frames
        out = os.path.join(d, f"chunk{k:03d}.mp4")
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
               "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30,trim=start_frame={start}:end_frame={start + frames},setpts=PTS-STARTPTS",
               "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000,atrim=start_sample={start * 1600}:end_sample={(start + frames) * 1600},asetpts=PTS-STARTPTS",
               "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", out]
        procs.append(subprocess.Popen(cmd))
        if len(procs) >= 2:
            for p in procs: p.wait()
            procs = []
    for p in procs: p.wait()
    open(marker, "w").close()
    return d

def timed(cmd, shell=False):
    """Wall seconds and peak RSS (KB) of one run, measured by /usr/bin/time -v."""
    full = ["/usr/bin/time", "-v"] + (["/bin/sh", "-c", cmd] if shell else cmd)
    t0 = time.perf_counter()
    r = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed: {cmd}\n{r.stderr[-2000:]}")
    rss = next(int(l.split(":")[1]) for l in r.stderr.splitlines() if "Maximum resident set size" in l)
    return wall, rss

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--bin", default=None)
    ap.add_argument("--workloads", default=None, help="comma-separated workload names (default: all)")
    args = ap.parse_args()
    chosen = [w for w in WORKLOADS if args.workloads is None or w[0] in args.workloads.split(",")]
    binary = args.bin or os.path.join(subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip(), "helios-stitch")
    out = os.path.join(WORK, "out")
    os.makedirs(out, exist_ok=True)
    rows = []
    audio_rows = []
    for name, count, seconds, size in chosen:
        d = generate(name, count, seconds, size)
        chunks = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".mp4"))
        total = sum(os.path.getsize(c) for c in chunks)
        lst = os.path.join(d, "list.txt")
        with open(lst, "w") as f:
            f.writelines(f"file '{c}'\n" for c in chunks)
        tools = {
            "helios-stitch": [binary, *chunks, "-o", os.path.join(out, "helios.mp4"), "--force", "--quiet"],
            "helios-stitch --faststart": [binary, *chunks, "-o", os.path.join(out, "helios-fs.mp4"), "--force", "--quiet", "--faststart"],
            "ffmpeg concat": ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", lst, "-c", "copy", os.path.join(out, "ffmpeg.mp4")],
            "ffmpeg concat +faststart": ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", lst, "-c", "copy", "-movflags", "+faststart", os.path.join(out, "ffmpeg-fs.mp4")],
            "cat (byte-copy floor)": " ".join(["cat", *chunks, ">", os.path.join(out, "cat.bin")]),
            "helios-stitch --audio exact": [binary, *chunks, "-o", os.path.join(out, "helios-exact.mp4"), "--force", "--quiet", "--audio", "exact"],
            "ffmpeg concat, audio re-encoded": ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", lst,
                                                "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", os.path.join(out, "ffmpeg-aac.mp4")],
        }
        audio_tools = {"helios-stitch --audio exact": "helios-stitch", "ffmpeg concat, audio re-encoded": "ffmpeg concat"}
        samples = {k: [] for k in tools}
        for c in chunks:  # warm the page cache
            with open(c, "rb") as f: f.read()
        for _ in range(args.reps):  # interleaved so drift in machine load hits every tool alike
            for k, cmd in tools.items():
                samples[k].append(timed(cmd, shell=isinstance(cmd, str)))
        base = statistics.median(w for w, _ in samples["ffmpeg concat"])
        # Like for like: helios --faststart against ffmpeg with +faststart.
        peers = {"helios-stitch": "ffmpeg concat", "helios-stitch --faststart": "ffmpeg concat +faststart"}
        audio_seconds = count * seconds
        # helios's own account of the decoding and encoding, from its JSON report.
        report = json.loads(subprocess.run([binary, *chunks, "-o", os.path.join(out, "helios-exact.mp4"), "--force", "--json", "--audio", "exact"],
                                           check=True, capture_output=True, text=True).stdout)
        coding = sum(a["codingSeconds"] for a in report["output"]["exactAudio"])
        for k, copy in audio_tools.items():
            med = statistics.median(w for w, _ in samples[k])
            extra = med - statistics.median(w for w, _ in samples[copy])
            audio_rows.append((name, audio_seconds, k, med, audio_seconds / med, audio_seconds / extra if extra > 0 else None,
                               audio_seconds / coding if k.startswith("helios") and coding > 0 else None))
        for k in tools:
            if k in audio_tools:
                continue
            med = statistics.median(w for w, _ in samples[k])
            rss = max(r for _, r in samples[k]) / 1024
            peer = statistics.median(w for w, _ in samples[peers[k]]) if k in peers else None
            rows.append((name, f"{total / 1e6:.0f} MB", k, med, med / base, med / peer if peer else None, rss))
    print(f"| workload | size | tool | median s | ratio to ffmpeg concat | ratio to ffmpeg, same flags | peak RSS MB |")
    print(f"|---|---|---|---|---|---|---|")
    for name, size, tool, med, ratio, same, rss in rows:
        print(f"| {name} | {size} | {tool} | {med:.3f} | {ratio:.2f} | {f'{same:.2f}' if same else ''} | {rss:.0f} |")
    print()
    print("| workload | audio s | tool | median s | audio s per wall s | audio s per extra wall s over copy | audio s per s of decode+encode |")
    print("|---|---|---|---|---|---|---|")
    for name, seconds, tool, med, rate, extra, coding in audio_rows:
        print(f"| {name} | {seconds} | {tool} | {med:.3f} | {rate:.1f} | {f'{extra:.1f}' if extra else ''} | {f'{coding:.1f}' if coding else ''} |")

if __name__ == "__main__":
    main()
