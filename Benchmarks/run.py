#!/usr/bin/env python3
"""Times helios-stitch against `ffmpeg -f concat -c copy` and the `cat` byte-copy floor, in one run.

Durability is compared like for like: helios's default (fsync before rename) against `cat` + `sync FILE` and ffmpeg
+ `sync FILE`; `helios-stitch --no-sync` against plain `cat` and plain ffmpeg. `--faststart` against the same stitch
without it. A scale section stitches 100, 1,000 and 10,000 one-frame chunks (`--list`): wall time per input, peak RSS.
A start-up section times `helios-stitch --version` against a C program that only links libavformat (`--startup N`).
A Matroska section remuxes 1080p workloads into Matroska and times `--check` (probe and validate only) with the
index-only probe, which walks the block headers, against `--probe scan` (every packet read, as every Matroska
input was probed before) and against reading the files once (`cat > /dev/null`).

Also what `--audio exact` costs: helios-stitch re-encoding the audio against ffmpeg's concat re-encoding the same
audio (video copied, AAC at the chunks' 128 kb/s), as seconds of audio per second of wall time and per second of
wall time beyond the copy-only stitch.

Generates three workloads (cached under Benchmarks/.work), then for each runs every tool several times
(interleaved, warm page cache) and prints median wall time, the ratio to ffmpeg, and peak RSS from
/usr/bin/time -v. Usage: python3 Benchmarks/run.py [--reps N] [--bin PATH_TO_helios-stitch] [--workloads NAME,...]

Every run writes a new file: each tool's previous outputs are deleted, and the disk settled with `sync`, before the
clock starts (`--replace` keeps them). This machine's root file system is mounted with `discard`, so deleting a
gigabyte is a gigabyte of TRIM: `cat >` pays for it as it opens the old file (O_TRUNC) and overlaps it with the copy,
while a tool that renames its finished output over the old one pays for it at the end, in full. That is the cost of
deleting the previous output, not of stitching, and it fell on the tools unequally.
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", ".work")
WORKLOADS = [  # name, chunks, seconds per chunk, size (seconds may be a fraction: 0.1 is 3 frames)
    ("10x6s-1080p", 10, 6, "1920x1080"),
    ("120x1s-720p", 120, 1, "1280x720"),
    ("4x30s-1080p", 4, 30, "1920x1080"),
    ("48x8s-1080p", 48, 8, "1920x1080"),  # about 1 GB: 16 chunks encoded, repeated 3 times
    ("1000x3f-tiny", 1000, 0.1, "320x240"),  # 1,000 chunks of 3 frames
]
SCALE = [100, 1000, 10000]  # one-frame inputs
AUDIO_WORKLOADS = {"10x6s-1080p", "120x1s-720p", "4x30s-1080p"}  # where --audio exact is timed too

def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)

def generate(name, count, seconds, size, copies=None, unique=16):
    """Chunks of `seconds` of 30 fps video with AAC audio. With `copies`, one chunk is encoded and copied (tiny
    chunks: a thousand encoder start-ups would dominate the set-up). Past `unique` chunks, chunk k is a copy of chunk
    k mod `unique` (testsrc2 renders every frame before a chunk's start: late chunks of a long set take minutes)."""
    d = os.path.join(WORK, name)
    marker = os.path.join(d, ".done")
    if os.path.exists(marker):
        return d
    os.makedirs(d, exist_ok=True)
    frames = int(round(seconds * 30))
    procs = []
    for k in range(1 if copies else min(count, unique)):
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
    import shutil
    for k in range(unique, 0 if copies else count):
        shutil.copyfile(os.path.join(d, f"chunk{k % unique:03d}.mp4"), os.path.join(d, f"chunk{k:03d}.mp4"))
    if copies:
        for k in range(1, copies):
            shutil.copyfile(os.path.join(d, "chunk000.mp4"), os.path.join(d, f"chunk{k:05d}.mp4"))
        os.rename(os.path.join(d, "chunk000.mp4"), os.path.join(d, "chunk00000.mp4"))
    open(marker, "w").close()
    return d

def generate_scale(count):
    """`count` copies of one one-frame H.264 chunk and a list file naming them."""
    d = os.path.join(WORK, f"scale-{count}")
    lst = os.path.join(d, "list.txt")
    if not os.path.exists(os.path.join(d, ".done")):
        os.makedirs(d, exist_ok=True)
        one = os.path.join(d, "one.mp4")
        sh(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-frames:v", "1",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", one])
        import shutil
        names = []
        for k in range(count):
            name = os.path.join(d, f"f{k:05d}.mp4")
            shutil.copyfile(one, name)
            names.append(name)
        os.remove(one)
        with open(lst, "w") as f:
            f.writelines(n + "\n" for n in names)
        open(os.path.join(d, ".done"), "w").close()
    return lst

def load():
    return " ".join(f"{x:.1f}" for x in os.getloadavg())

def clear(out):
    """Deletes the outputs of earlier runs (temp files included) and waits for the disk to settle."""
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if os.path.isfile(path):
            os.remove(path)
    os.sync()

def timed(cmd, shell=False, out=None):
    """Wall seconds and peak RSS (KB) of one run, measured by /usr/bin/time -v; with `out`, that directory is
    cleared first (outside the timing)."""
    if out:
        clear(out)
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
    ap.add_argument("--workloads", default=None, help="comma-separated workload names (default: all; 'none' for none)")
    ap.add_argument("--audio", action=argparse.BooleanOptionalAction, default=True, help="also time --audio exact")
    ap.add_argument("--scale", default=",".join(map(str, SCALE)), help="one-frame input counts for the scale section ('' skips it)")
    ap.add_argument("--startup", type=int, default=41, help="runs of `--version` against a C program linking libavformat (0 skips)")
    ap.add_argument("--replace", action="store_true", help="write over the previous runs' outputs instead of into an empty directory")
    ap.add_argument("--matroska", default="10x6s-1080p,48x8s-1080p", help="workloads whose Matroska remux is probed ('' skips)")
    args = ap.parse_args()
    chosen = [w for w in WORKLOADS if args.workloads is None or w[0] in args.workloads.split(",")]
    binary = args.bin or os.path.join(subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip(), "helios-stitch")
    out = os.path.join(WORK, "out")
    os.makedirs(out, exist_ok=True)
    rows, audio_rows, goals, loads = [], [], [], []
    for name, count, seconds, size in chosen:
        d = generate(name, count, seconds, size, copies=count if seconds < 1 else None)
        chunks = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".mp4"))
        total = sum(os.path.getsize(c) for c in chunks)
        lst = os.path.join(d, "list.txt")
        with open(lst, "w") as f:
            f.writelines(f"file '{c}'\n" for c in chunks)
        hlist = os.path.join(d, "helios-list.txt")
        with open(hlist, "w") as f:
            f.writelines(c + "\n" for c in chunks)
        hin = ["--list", hlist]  # a thousand paths would overflow no command line, but the list is what jobs use
        ffconcat = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", lst, "-c", "copy"]
        cat_out, ff_out = os.path.join(out, "cat.bin"), os.path.join(out, "ffmpeg.mp4")
        tools = {
            "helios-stitch": [binary, *hin, "-o", os.path.join(out, "helios.mp4"), "--force", "--quiet"],
            "helios-stitch --no-sync": [binary, *hin, "-o", os.path.join(out, "helios-ns.mp4"), "--force", "--quiet", "--no-sync"],
            "helios-stitch --faststart": [binary, *hin, "-o", os.path.join(out, "helios-fs.mp4"), "--force", "--quiet", "--faststart"],
            "helios-stitch --probe scan": [binary, *hin, "-o", os.path.join(out, "helios-scan.mp4"), "--force", "--quiet", "--probe", "scan"],
            # Payloads read into memory and written out, as before they went file to file in the kernel.
            "helios-stitch --kernel-copy-minimum off": [binary, *hin, "-o", os.path.join(out, "helios-mem.mp4"), "--force", "--quiet",
                                                        "--kernel-copy-minimum", "off"],
            "ffmpeg concat": [*ffconcat, ff_out],
            "ffmpeg concat + sync FILE": f"{' '.join(ffconcat)} {ff_out} && sync {ff_out}",
            "ffmpeg concat +faststart + sync FILE": f"{' '.join(ffconcat)} -movflags +faststart {ff_out} && sync {ff_out}",
            "cat (byte-copy floor)": f"cat {' '.join(chunks)} > {cat_out}",
            "cat + sync FILE (durable floor)": f"cat {' '.join(chunks)} > {cat_out} && sync {cat_out}",
        }
        if args.audio and name in AUDIO_WORKLOADS:
            tools["helios-stitch --audio exact"] = [binary, *hin, "-o", os.path.join(out, "helios-exact.mp4"), "--force", "--quiet", "--audio", "exact"]
            tools["ffmpeg concat, audio re-encoded"] = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", lst,
                                                        "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", os.path.join(out, "ffmpeg-aac.mp4")]
        audio_tools = {"helios-stitch --audio exact": "helios-stitch", "ffmpeg concat, audio re-encoded": "ffmpeg concat"}
        samples = {k: [] for k in tools}
        for c in chunks:  # warm the page cache
            with open(c, "rb") as f: f.read()
        load_before = load()
        order = list(tools.items())
        for rep in range(args.reps):
            # Interleaved so drift in machine load hits every tool alike, and the order rotated each rep so no tool always
            # runs in the slot after the same neighbour (on one machine the slot after `cat + sync` ran 2x slower for
            # whichever tool held it, as the disk settled the previous gigabyte).
            for k, cmd in order[rep % len(order):] + order[:rep % len(order)]:
                samples[k].append(timed(cmd, shell=isinstance(cmd, str), out=None if args.replace else out))
        loads.append((name, load_before, load()))
        med = {k: statistics.median(w for w, _ in v) for k, v in samples.items()}
        if args.audio and name in AUDIO_WORKLOADS:
            audio_seconds = count * seconds
            # helios's own account of the decoding and encoding, from its JSON report.
            report = json.loads(subprocess.run([binary, *hin, "-o", os.path.join(out, "helios-exact.mp4"), "--force", "--json", "--audio", "exact"],
                                               check=True, capture_output=True, text=True).stdout)
            coding = sum(a["codingSeconds"] for a in report["output"]["exactAudio"])
            for k, copy in audio_tools.items():
                extra = med[k] - med[copy]
                audio_rows.append((name, audio_seconds, k, med[k], audio_seconds / med[k], audio_seconds / extra if extra > 0 else None,
                                   audio_seconds / coding if k.startswith("helios") and coding > 0 else None))
        for k in tools:
            if k in audio_tools:
                continue
            rss = max(r for _, r in samples[k]) / 1024
            floor, peer = PEERS.get(k, (None, None))
            rows.append((name, f"{total / 1e6:.0f} MB", k, med[k], med[k] / med[floor] if floor else None,
                         med[k] / med[peer] if peer else None, rss))
        goals.append((name, med["helios-stitch"] / med["cat + sync FILE (durable floor)"], med["helios-stitch --no-sync"] / med["cat (byte-copy floor)"],
                      med["helios-stitch"] / med["ffmpeg concat + sync FILE"], med["helios-stitch --no-sync"] / med["ffmpeg concat"],
                      med["helios-stitch --faststart"] / med["helios-stitch"]))
    if rows:
        print("| workload | size | tool | median s | ratio to cat, same durability | ratio to ffmpeg concat, same durability and flags | peak RSS MB |")
        print("|---|---|---|---|---|---|---|")
        for name, size, tool, m, floor, peer, rss in rows:
            print(f"| {name} | {size} | {tool} | {m:.3f} | {f'{floor:.2f}' if floor else ''} | {f'{peer:.2f}' if peer else ''} | {rss:.0f} |")
        print()
        print("Goals (issue 13), ratios of medians from this run:")
        print()
        print("| workload | helios / (cat + sync) | --no-sync / cat | helios / (ffmpeg + sync) | --no-sync / ffmpeg | --faststart / plain |")
        print("|---|---|---|---|---|---|")
        for name, a, b, c, d_, e in goals:
            print(f"| {name} | {a:.2f} | {b:.2f} | {c:.2f} | {d_:.2f} | {e:.2f} |")
        print()
        print("Load average (1, 5, 15 min) before and after each workload: " + "; ".join(f"{n}: {a} -> {b}" for n, a, b in loads))
    if audio_rows:
        print()
        print("| workload | audio s | tool | median s | audio s per wall s | audio s per extra wall s over copy | audio s per s of decode+encode |")
        print("|---|---|---|---|---|---|---|")
        for name, seconds, tool, m, rate, extra, coding in audio_rows:
            print(f"| {name} | {seconds} | {tool} | {m:.3f} | {rate:.1f} | {f'{extra:.1f}' if extra else ''} | {f'{coding:.1f}' if coding else ''} |")
    if args.scale:
        scale(binary, out, [int(n) for n in args.scale.split(",")], max(3, args.reps // 2), args.replace)
    if args.matroska:
        matroska_probe(binary, args.matroska.split(","), args.reps)
    if args.startup:
        startup(binary, args.startup)

# Each helios row's peers doing the same work: (its floor, its ffmpeg counterpart).
PEERS = {
    "helios-stitch": ("cat + sync FILE (durable floor)", "ffmpeg concat + sync FILE"),
    "helios-stitch --probe scan": ("cat + sync FILE (durable floor)", "ffmpeg concat + sync FILE"),
    "helios-stitch --kernel-copy-minimum off": ("cat + sync FILE (durable floor)", "ffmpeg concat + sync FILE"),
    "helios-stitch --faststart": ("cat + sync FILE (durable floor)", "ffmpeg concat +faststart + sync FILE"),
    "helios-stitch --no-sync": ("cat (byte-copy floor)", "ffmpeg concat"),
}

STARTUP_C = r"""
#include <stdio.h>
#include <libavformat/avformat.h>
int main(void) {
    unsigned v = avformat_version();
    printf("libavformat %u.%u.%u\n", v >> 16, (v >> 8) & 255, v & 255);
    return 0;
}
"""

def startup(binary, runs):
    """`helios-stitch --version` against a C program that only links Debian's libavformat and prints its version:
    what start-up costs beyond loading FFmpeg is ours. Interleaved; median wall time and peak RSS."""
    os.makedirs(WORK, exist_ok=True)
    source, program = os.path.join(WORK, "startup.c"), os.path.join(WORK, "startup-c")
    with open(source, "w") as f:
        f.write(STARTUP_C)
    flags = subprocess.check_output(["pkg-config", "--cflags", "--libs", "libavformat"], text=True).split()
    subprocess.run(["cc", "-O2", source, "-o", program, *flags], check=True)
    tools = {"helios-stitch --version": [binary, "--version"], "C program linking libavformat": [program]}
    samples = {k: [] for k in tools}
    for _ in range(runs):
        for k, cmd in tools.items():
            samples[k].append(timed(cmd))
    med = {k: statistics.median(w for w, _ in v) for k, v in samples.items()}
    c = med["C program linking libavformat"]
    print()
    print("| start-up | median ms | peak RSS MB | ratio to the C program |")
    print("|---|---|---|---|")
    for k in tools:
        print(f"| {k} | {med[k] * 1000:.1f} | {max(r for _, r in samples[k]) / 1024:.0f} | {med[k] / c:.2f} |")
    print(f"\nOurs beyond loading FFmpeg: {(med['helios-stitch --version'] - c) * 1000:.1f} ms ({runs} runs each, interleaved).")

def matroska_probe(binary, names, reps):
    """`--check` of a workload remuxed into Matroska (ffmpeg -c copy): the index-only probe (block headers walked)
    against the scan and against `cat` reading the files to /dev/null. Interleaved, warm page cache; medians."""
    rows = []
    for name, count, seconds, size in (w for w in WORKLOADS if w[0] in names):
        source = generate(name, count, seconds, size, copies=count if seconds < 1 else None)
        d = os.path.join(WORK, f"{name}-mkv")
        if not os.path.exists(os.path.join(d, ".done")):
            os.makedirs(d, exist_ok=True)
            for f in sorted(os.listdir(source)):
                if f.endswith(".mp4"):
                    sh(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", os.path.join(source, f), "-c", "copy",
                        os.path.join(d, f[:-4] + ".mkv")])
            open(os.path.join(d, ".done"), "w").close()
        chunks = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".mkv"))
        tools = {"helios-stitch --check": [binary, "--check", "--quiet", *chunks],
                 "helios-stitch --check --probe scan": [binary, "--check", "--quiet", "--probe", "scan", *chunks],
                 "cat > /dev/null (read once)": f"cat {' '.join(chunks)} > /dev/null"}
        samples = {k: [] for k in tools}
        for c in chunks:
            with open(c, "rb") as f: f.read()
        for _ in range(reps):
            for k, cmd in tools.items():
                samples[k].append(timed(cmd, shell=isinstance(cmd, str)))
        med = {k: statistics.median(w for w, _ in v) for k, v in samples.items()}
        total = sum(os.path.getsize(c) for c in chunks)
        for k in tools:
            rows.append((name, total, k, med[k], med[k] / med["helios-stitch --check --probe scan"]))
    print()
    print("| Matroska workload | size | tool | median s | ratio to the scan |")
    print("|---|---|---|---|---|")
    for name, total, k, m, ratio in rows:
        print(f"| {name} | {total / 1e6:.0f} MB | {k} | {m:.3f} | {ratio:.2f} |")

def scale(binary, out, counts, reps, replace=False):
    """One-frame inputs through --list: wall time per input and peak RSS, interleaved over the counts."""
    lists = {n: generate_scale(n) for n in counts}
    samples = {n: [] for n in counts}
    load_before = load()
    for _ in range(reps):
        for n in counts:
            samples[n].append(timed([binary, "--list", lists[n], "-o", os.path.join(out, f"scale-{n}.mp4"), "--force", "--quiet"], out=None if replace else out))
    print()
    print("| one-frame inputs | median s | ms per input | peak RSS MB |")
    print("|---|---|---|---|")
    for n in counts:
        m = statistics.median(w for w, _ in samples[n])
        print(f"| {n:,} | {m:.3f} | {m * 1000 / n:.2f} | {max(r for _, r in samples[n]) / 1024:.0f} |")
    print(f"\nLoad average during the scale runs: {load_before} -> {load()}")

if __name__ == "__main__":
    main()
