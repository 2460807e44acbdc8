#!/usr/bin/env python3
"""Per-chunk overhead of dispatch through `helios-worker serve` (issue 12): the time from POST /v1/chunks to its
response, minus the time the same chunk command takes run directly, in one run; and, as the peer in the same run,
the same chunk invoked through AWS's Lambda Runtime Interface Emulator running `helios-worker lambda`. Cold = the
first request after the server listens; warm = the ones after it. Also the server's peak RSS (VmHWM) idle, after
the first request, and at the end of the warm requests (chunk commands are its children, not counted), and the time
from exec to listening.

Usage: python3 Benchmarks/cloudrun.py [--reps 10] [--frames 1] [--config debug|release]
"""
import importlib.util, json, os, statistics, subprocess, sys, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec_loader = importlib.util.spec_from_file_location("lambda_bench", os.path.join(ROOT, "Benchmarks", "lambda.py"))
lambda_bench = importlib.util.module_from_spec(spec_loader)
spec_loader.loader.exec_module(lambda_bench)


def post(port, payload):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chunks", data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as answer:
        body = json.loads(answer.read())
    return time.perf_counter() - started, body


def peak_kib(pid, field="VmHWM"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    args = lambda_bench.arguments()
    setup = lambda_bench.Setup(args, "cloudrun")
    products, env = setup.products, setup.env
    direct = setup.time_direct(args.reps)

    (port,) = lambda_bench.free_ports(1)
    started = time.perf_counter()
    server = subprocess.Popen([os.path.join(products, "helios-worker"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lambda_bench.wait_for(port, server)
        startup = time.perf_counter() - started
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).read()
        idle = peak_kib(server.pid)
        served = []
        after_first = 0
        for attempt in range(1, args.reps + 2):
            seconds, body = post(port, setup.payload(attempt, "serve"))
            if body.get("status") != "succeeded":
                sys.exit(f"request failed: {body}")
            served.append(seconds)
            if attempt == 1:
                after_first = peak_kib(server.pid)
        busy = peak_kib(server.pid)
    finally:
        server.terminate()
        server.wait()

    try:
        invoked = setup.time_emulator(args.reps, "lambda")
    finally:
        setup.remove()

    render = statistics.median(direct[1:])
    cold, warm = served[0], statistics.median(served[1:])
    lambda_cold, lambda_warm = invoked[0], statistics.median(invoked[1:])
    print(f"chunk: {args.frames} frame(s) of helios-synth at 320x180, {args.config} build, {args.reps} warm reps")
    print(f"direct render (median):           {render * 1000:8.1f} ms")
    print(f"serve, cold (first request):      {cold * 1000:8.1f} ms   overhead {(cold - render) * 1000:8.1f} ms")
    print(f"serve, warm (median):             {warm * 1000:8.1f} ms   overhead {(warm - render) * 1000:8.1f} ms")
    print(f"lambda RIE, cold (peer):          {lambda_cold * 1000:8.1f} ms   overhead {(lambda_cold - render) * 1000:8.1f} ms")
    print(f"lambda RIE, warm (peer, median):  {lambda_warm * 1000:8.1f} ms   overhead {(lambda_warm - render) * 1000:8.1f} ms")
    if lambda_warm - render > 0:
        print(f"warm overhead, serve / lambda:    {(warm - render) / (lambda_warm - render):8.2f}")
    print(f"server start to listening:        {startup * 1000:8.1f} ms")
    print(f"server peak RSS idle:             {idle / 1024:8.1f} MiB")
    print(f"server peak RSS after 1 chunk:    {after_first / 1024:8.1f} MiB")
    print(f"server peak RSS after {args.reps + 1} chunks:  {busy / 1024:8.1f} MiB")


if __name__ == "__main__":
    main()
