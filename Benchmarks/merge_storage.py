#!/usr/bin/env python3
"""The merge of a job whose chunk outputs are in storage, against merging local files (issue 11), in one run.

Every variant is a real `helios job run` of the same N chunks (H.264 + AAC, by default ffmpeg's testsrc2 with noise at
20 Mb/s so the files have a camera's size; `--source synth` uses helios-synth, which compresses to almost nothing;
rendered once up front, each chunk command copies its pre-rendered file), and the merge time is the job's own
`mergeDurationMs`:

- local:                 local workers; the merge hashes each chunk file in place (the recorded SHA-256) and stitches.
- local + publish:       the same, with --storage s3://...: the merged file is then put in SeaweedFS create-only and a
                         download URL presigned.
- storage fetch + stitch + publish: the chunks run on `helios-worker lambda` under AWS's Runtime Interface Emulator
                         (two of them), which upload each output to SeaweedFS; the merge downloads the 24 outputs (4 at a
                         time, each verified by size and SHA-256), stitches and publishes.
- helios-stitch:         the stitcher alone on the local files (no hashing, no job), the floor.

Ratios are against "local". Variants are interleaved, `--reps` times each, a fresh job (and HELIOS_HOME) per run.
Usage: python3 Benchmarks/merge_storage.py [--chunks 24] [--frames 30] [--size 1920x1080] [--reps 3] [--config release]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3 import ACCESS, SECRET, REGION, free_ports, start_seaweedfs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env, **kw):
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


def start_emulators(count, rie, products, env):
    emulators, endpoints = [], []
    for _ in range(count):
        port, api = free_ports(2)
        log = open(os.path.join(env["HELIOS_HOME"], f"rie-{port}.log"), "w")
        emulators.append(subprocess.Popen([rie, "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                                           "--runtime-api-address", f"127.0.0.1:{api}",
                                           os.path.join(products, "helios-worker"), "lambda"],
                                          env=env, stdout=log, stderr=log))
        endpoints.append(f"http://127.0.0.1:{port}")
    import socket
    for endpoint in endpoints:
        port = int(endpoint.rsplit(":", 1)[1])
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
    return emulators, endpoints


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=24)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--config", default="release")
    parser.add_argument("--source", choices=["ffmpeg", "synth"], default="ffmpeg",
                        help="ffmpeg: testsrc2 with noise at --mbps (the default); synth: helios-synth's programme")
    parser.add_argument("--mbps", type=int, default=20)
    args = parser.parse_args()
    products = os.path.join(ROOT, ".build", args.config)
    helios = os.path.join(products, "helios")
    rie = os.path.join(ROOT, "Fixtures/.generated/tools/aws-lambda-rie")
    if not os.path.exists(rie):
        subprocess.run(["bash", os.path.join(ROOT, "scripts/fetch-lambda-rie.sh")], check=True)
    work = tempfile.mkdtemp(prefix="helios-bench-merge-")
    base_env = dict(os.environ, PATH=f"{products}:/usr/bin:/bin", AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET,
                    AWS_REGION=REGION, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    weed, endpoint = start_seaweedfs(os.path.join(work, "weed"))
    emulators = []
    try:
        base_env["AWS_ENDPOINT_URL_S3"] = endpoint
        bucket = "helios-bench-merge"
        run([os.path.join(products, "helios-s3-bench"), "mb", f"s3://{bucket}"], base_env)

        # The chunks, rendered once.
        pre = os.path.join(work, "pre")
        os.makedirs(pre)
        for i in range(args.chunks):
            out = os.path.join(pre, f"c{i:02d}.mp4")
            if args.source == "synth":
                run([os.path.join(products, "helios-synth"), "render", "--start-frame", str(i * args.frames), "--frame-count",
                     str(args.frames), "--size", args.size, "-o", out], base_env)
            else:
                # Camera-like noise keeps the encoder at its bitrate (the synthetic programme compresses to almost nothing).
                run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i",
                     f"testsrc2=size={args.size}:rate=30,noise=alls=24:allf=t",
                     "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000", "-t", f"{args.frames / 30:.6f}", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", f"{args.mbps}M",
                     "-maxrate", f"{args.mbps}M", "-bufsize", f"{2 * args.mbps}M", "-g", "30", "-pix_fmt", "yuv420p",
                     "-c:a", "aac", "-b:a", "128k", out], base_env)
        total_bytes = sum(os.path.getsize(os.path.join(pre, f)) for f in os.listdir(pre))
        width, height = (int(v) for v in args.size.split("x"))

        def spec(job):
            return {"id": job, "metadata": {"totalFrames": args.chunks * args.frames, "fps": 30, "width": width, "height": height,
                                            "duration": args.chunks * args.frames / 30},
                    "chunks": [{"id": f"c{i:02d}", "startFrame": i * args.frames, "frameCount": args.frames,
                                "outputFile": f"chunks/c{i:02d}.mp4", "command": f"cp {pre}/c{i:02d}.mp4 chunks/c{i:02d}.mp4"}
                               for i in range(args.chunks)]}

        def job_run(variant, rep):
            home = os.path.join(work, f"{variant}-{rep}")
            os.makedirs(os.path.join(home, "job", "chunks"))
            env = dict(base_env, HELIOS_HOME=home)
            job = f"bench{uuid.uuid4().hex[:8]}"
            spec_file = os.path.join(home, "job", "spec.json")
            with open(spec_file, "w") as f:
                json.dump(spec(job), f)
            cmd = [helios, "job", "run", spec_file, "--quiet"]
            if variant == "local + publish":
                cmd += ["--storage", f"s3://{bucket}/{job}"]
            if variant == "storage fetch + stitch + publish":
                cmd += ["--workers", "lambda:function@2", "--storage", f"s3://{bucket}/{job}"]
                env["HELIOS_LAMBDA_ENDPOINTS"] = ",".join(lambda_endpoints)
            run(cmd, env)
            status = json.loads(run([helios, "job", "status", job, "--json"], env).stdout)
            merge = status["metrics"]["mergeDurationMs"] / 1000
            if variant != "local":
                stored = status["result"]["merge"].get("storedURI", "")
                if not stored.startswith(f"s3://{bucket}/"):
                    sys.exit(f"{variant}: the merged output was not published: {stored!r}")
            shutil.rmtree(home, ignore_errors=True)
            return merge

        def stitch_only(rep):
            out = os.path.join(work, f"stitch-{rep}.mp4")
            started = time.perf_counter()
            run([os.path.join(products, "helios-stitch"), *[os.path.join(pre, f"c{i:02d}.mp4") for i in range(args.chunks)],
                 "-o", out], base_env)
            seconds = time.perf_counter() - started
            os.remove(out)
            return seconds

        worker_env = dict(base_env, HELIOS_HOME=os.path.join(work, "worker-home"))
        os.makedirs(worker_env["HELIOS_HOME"])
        emulators, lambda_endpoints = start_emulators(2, rie, products, worker_env)

        variants = ["local", "local + publish", "storage fetch + stitch + publish", "helios-stitch"]
        times = {v: [] for v in variants}
        for rep in range(args.reps + 1):  # the first round warms caches and is dropped
            for variant in variants:
                seconds = stitch_only(rep) if variant == "helios-stitch" else job_run(variant, rep)
                if rep > 0:
                    times[variant].append(seconds)
    finally:
        for e in emulators:
            e.kill()
            e.wait()
        weed.kill()
        weed.wait()
        shutil.rmtree(work, ignore_errors=True)

    local = statistics.median(times["local"])
    print(f"{args.chunks} chunks x {args.frames} frames at {args.size} ({args.source}, H.264 + AAC, {total_bytes / 1e6:.0f} MB in all), "
          f"{args.config} build, median of {args.reps} runs each, one SeaweedFS on loopback")
    print(f"| merge | median s | ratio to local |")
    print(f"|---|---|---|")
    for variant in variants:
        median = statistics.median(times[variant])
        print(f"| {variant} | {median:.3f} | {median / local:.2f} |")


if __name__ == "__main__":
    main()
