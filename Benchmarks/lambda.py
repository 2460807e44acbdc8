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


class Setup:
    """One chunk of helios-synth with its spec in a fresh local store (HELIOS_HOME), shared by this benchmark and
    Benchmarks/cloudrun.py."""

    def __init__(self, args, name):
        self.frames, self.config = args.frames, args.config
        self.products = os.path.join(ROOT, ".build", args.config)
        self.rie = os.path.join(ROOT, "Fixtures/.generated/tools/aws-lambda-rie")
        if not os.path.exists(self.rie):
            subprocess.run(["bash", os.path.join(ROOT, "scripts/fetch-lambda-rie.sh")], check=True)
        self.work = tempfile.mkdtemp(prefix=f"helios-bench-{name}-")
        self.env = dict(os.environ, HELIOS_HOME=self.work, PATH=f"{self.products}:/usr/bin:/bin")
        self.command = f"helios-synth render --start-frame 0 --frame-count {args.frames} --size 320x180 -o c0.mp4"
        spec = {"id": "bench", "metadata": {"totalFrames": args.frames, "fps": 30, "width": 320, "height": 180,
                                            "duration": args.frames / 30},
                "chunks": [{"id": "c0", "startFrame": 0, "frameCount": args.frames, "outputFile": "c0.mp4",
                            "command": self.command}]}
        with open(os.path.join(self.work, "spec.json"), "w") as f:
            json.dump(spec, f)
        self.spec_uri = subprocess.run([os.path.join(self.products, "helios"), "artifacts", "put",
                                        os.path.join(self.work, "spec.json"), "jobs/bench/spec.json"],
                                       env=self.env, check=True, capture_output=True, text=True).stdout.strip()
        self.prefix = self.spec_uri.rsplit("/jobs/bench/spec.json", 1)[0]

    def payload(self, attempt, where):
        """A chunk request for `attempt`, its output under PREFIX/`where` (a new attempt key each time)."""
        return {"version": 1, "jobId": "bench", "attempt": attempt,
                "chunk": {"id": "c0", "startFrame": 0, "frameCount": self.frames, "command": self.command,
                          "outputFile": "c0.mp4"},
                "spec": {"url": self.spec_uri}, "output": {"storePrefix": f"{self.prefix}/{where}"}}

    def time_direct(self, reps):
        """The chunk command alone, reps + 1 times, in a scratch directory: seconds per run."""
        direct = []
        scratch = os.path.join(self.work, "direct")
        os.makedirs(scratch, exist_ok=True)
        for _ in range(reps + 1):
            started = time.perf_counter()
            subprocess.run(self.command.split(), cwd=scratch, env=self.env, check=True, capture_output=True)
            direct.append(time.perf_counter() - started)
            os.remove(os.path.join(scratch, "c0.mp4"))
        return direct

    def time_emulator(self, reps, where):
        """reps + 1 invokes through the emulator running `helios-worker lambda`: seconds per invoke, cold first."""
        port, api = free_ports(2)
        emulator = subprocess.Popen([self.rie, "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                                     "--runtime-api-address", f"127.0.0.1:{api}",
                                     os.path.join(self.products, "helios-worker"), "lambda"],
                                    env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(port, emulator)
            times = []
            for attempt in range(1, reps + 2):
                seconds, body = invoke(port, self.payload(attempt, where))
                if body.get("status") != "succeeded":
                    sys.exit(f"invoke failed: {body}")
                times.append(seconds)
            return times
        finally:
            emulator.kill()
            emulator.wait()

    def remove(self):
        shutil.rmtree(self.work, ignore_errors=True)


def wait_for(port, process):
    """Waits until something listens on 127.0.0.1:`port`; exits if `process` ends first."""
    for _ in range(3000):
        if process.poll() is not None:
            sys.exit("the process exited before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.01)
    sys.exit(f"nothing listened on {port}")


def arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--config", default="debug")
    return parser.parse_args()


def main():
    args = arguments()
    setup = Setup(args, "lambda")
    try:
        direct = setup.time_direct(args.reps)
        times = setup.time_emulator(args.reps, "renders")
    finally:
        setup.remove()

    render = statistics.median(direct[1:])
    cold, warm = times[0], statistics.median(times[1:])
    print(f"chunk: {args.frames} frame(s) of helios-synth at 320x180, {args.config} build, {args.reps} warm reps")
    print(f"direct render (median):        {render * 1000:8.1f} ms")
    print(f"invoke, cold (first):          {cold * 1000:8.1f} ms   overhead {(cold - render) * 1000:8.1f} ms")
    print(f"invoke, warm (median):         {warm * 1000:8.1f} ms   overhead {(warm - render) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
