#!/usr/bin/env python3
"""Per-chunk overhead of remote dispatch (issue 11): the time from invoke to response through AWS's Lambda Runtime
Interface Emulator running `helios-worker lambda`, minus the time the same chunk command takes run directly, in one
run. Cold = the first invoke after the emulator starts (the runtime's init included); warm = the ones after it.
The worker fetches the spec from the local store, renders in a fresh workspace, probes the output, hashes it and
uploads it create-only (a new attempt key each time), so the overhead is everything remote dispatch adds.

Usage: python3 Benchmarks/lambda.py [--reps 10] [--frames 1] [--config debug|release]
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def invoke(port, payload):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
                                     data=json.dumps(payload).encode(), method="POST")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as answer:
        body = json.loads(answer.read())
    return time.perf_counter() - started, body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--config", default="debug")
    args = parser.parse_args()
    products = os.path.join(ROOT, ".build", args.config)
    rie = os.path.join(ROOT, "Fixtures/.generated/tools/aws-lambda-rie")
    if not os.path.exists(rie):
        subprocess.run(["bash", os.path.join(ROOT, "scripts/fetch-lambda-rie.sh")], check=True)
    work = tempfile.mkdtemp(prefix="helios-bench-lambda-")
    env = dict(os.environ, HELIOS_HOME=work, PATH=f"{products}:/usr/bin:/bin")
    command = f"helios-synth render --start-frame 0 --frame-count {args.frames} --size 320x180 -o c0.mp4"
    spec = {"id": "bench", "metadata": {"totalFrames": args.frames, "fps": 30, "width": 320, "height": 180,
                                        "duration": args.frames / 30},
            "chunks": [{"id": "c0", "startFrame": 0, "frameCount": args.frames, "outputFile": "c0.mp4", "command": command}]}
    with open(os.path.join(work, "spec.json"), "w") as f:
        json.dump(spec, f)
    spec_uri = subprocess.run([os.path.join(products, "helios"), "artifacts", "put", os.path.join(work, "spec.json"),
                               "jobs/bench/spec.json"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    prefix = spec_uri.rsplit("/jobs/bench/spec.json", 1)[0] + "/renders"

    # The chunk command alone, the same number of times, in a scratch directory.
    direct = []
    scratch = os.path.join(work, "direct")
    os.makedirs(scratch)
    for _ in range(args.reps + 1):
        started = time.perf_counter()
        subprocess.run(command.split(), cwd=scratch, env=env, check=True, capture_output=True)
        direct.append(time.perf_counter() - started)
        os.remove(os.path.join(scratch, "c0.mp4"))

    port, api = free_ports(2)
    emulator = subprocess.Popen([rie, "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                                 "--runtime-api-address", f"127.0.0.1:{api}", os.path.join(products, "helios-worker"), "lambda"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        times = []
        for attempt in range(1, args.reps + 2):
            payload = {"version": 1, "jobId": "bench", "attempt": attempt,
                       "chunk": {"id": "c0", "startFrame": 0, "frameCount": args.frames, "command": command, "outputFile": "c0.mp4"},
                       "spec": {"url": spec_uri}, "output": {"storePrefix": prefix}}
            seconds, body = invoke(port, payload)
            if body.get("status") != "succeeded":
                sys.exit(f"invoke failed: {body}")
            times.append(seconds)
    finally:
        emulator.kill()
        emulator.wait()
        shutil.rmtree(work, ignore_errors=True)

    render = statistics.median(direct[1:])
    cold, warm = times[0], statistics.median(times[1:])
    print(f"chunk: {args.frames} frame(s) of helios-synth at 320x180, {args.config} build, {args.reps} warm reps")
    print(f"direct render (median):        {render * 1000:8.1f} ms")
    print(f"invoke, cold (first):          {cold * 1000:8.1f} ms   overhead {(cold - render) * 1000:8.1f} ms")
    print(f"invoke, warm (median):         {warm * 1000:8.1f} ms   overhead {(warm - render) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
