#!/usr/bin/env python3
"""Writes Linker/PRODUCT.lds: the text sections a typical run of PRODUCT executes, which the release link puts
first in `.text`, ahead of the code a run does not touch.

Why: the kernel maps a binary's code 64 KiB at a time around each page a process first executes, and every page it
maps counts in the process's resident set. A `helios job run` executes about 1.3 MB of the 27 MB of code in
`helios`, scattered over most of it, so 9.9 MB of code was resident for 1.3 MB used. Gathered, the code a job runs
takes about 6 MB (the toolchain's archives hold some code in one section per file, which cannot be split).

How: each product runs a few small jobs under valgrind's callgrind, which records the address of every instruction
executed; the link map names the input section at each address. Functions with a section of their own are listed by
section name (this also covers private functions, which have no symbol to order by); whole-file sections that hold
executed code are listed by file. The list goes stale slowly as code changes (a renamed function falls back to the
default place; nothing breaks); rerun `make hot-text` after large changes and commit the result.

Usage: make hot-text, or python3 scripts/hot_text.py [PRODUCT...] (default: helios helios-stitch; needs valgrind;
builds with $SWIFT_RELEASE_FLAGS, which the Makefile sets)
"""
import bisect
import os
from collections import Counter
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINKER = os.path.join(ROOT, "Linker")


# The flags `make build` compiles release builds with (see the Makefile), so that profiling relinks and rebuilds nothing.
RELEASE_FLAGS = os.environ.get("SWIFT_RELEASE_FLAGS", "").split()


def sh(args, **kw):
    return subprocess.run(args, check=True, cwd=kw.pop("cwd", ROOT), **kw)


def build(product, map_path):
    """Relinks PRODUCT with a link map; returns the binary's path."""
    sh(["swift", "build", "-c", "release", *RELEASE_FLAGS, "--product", product, "-Xlinker", f"-Map={map_path}"],
       stdout=subprocess.DEVNULL)
    bindir = sh(["swift", "build", "-c", "release", *RELEASE_FLAGS, "--show-bin-path"], capture_output=True, text=True).stdout.strip()
    return os.path.join(bindir, product)


def text_sections(map_path):
    """Input sections of `.text`, sorted: (address, size, 'file:(section)')."""
    sections, output = [], None
    pattern = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s(.*)$")
    with open(map_path) as f:
        for line in f:
            m = pattern.match(line.rstrip("\n"))
            if not m:
                continue
            address, size, rest = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
            if not rest.startswith(" "):
                output = rest.strip()
            elif output == ".text" and size and rest.startswith("        ") and not rest.startswith("                "):
                sections.append((address, size, rest.strip()))
    sections.sort()
    return sections


# An object or function line of a callgrind profile: `ob=(3) /path`, `cfn=(12)`.
NAMED = re.compile(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$")


def executed_addresses(profile, binary):
    """Instruction addresses (the binary's own, from 0) of `binary` in a callgrind profile written with
    --dump-instr=yes. valgrind loads a position-independent executable at an address of its choosing, so the load
    address is found from the functions the profile names: most functions' first recorded instruction is their entry."""
    name = os.path.basename(binary)
    objects, functions, current, function, last = {}, {}, None, None, 0
    addresses, entries = set(), {}
    with open(profile) as f:
        for line in f:
            line = line.rstrip("\n")
            named = NAMED.match(line)
            if named:
                # Names are given once, at their first use, and referred to by number after (`ob=(3)`).
                kind, ident, text = named.groups()
                table = objects if kind.endswith("ob") else functions
                if text:
                    table[ident] = text
                if kind == "ob":
                    current = objects[ident]
                elif kind == "fn":
                    function = functions[ident]
                continue
            if line.startswith("calls="):
                # The callee's position; the next line (the call site) is relative to the line before this one.
                continue
            if line and (line.startswith("0x") or line[0] in "+-*"):
                position = line.split()[0]
                address = int(position, 16) if position.startswith("0x") else last if position == "*" else last + int(position)
                last = address
                if current and current.endswith("/" + name):
                    addresses.add(address)
                    entries.setdefault(function, address)
    symbols = {}
    for row in sh(["nm", "--defined-only", binary], capture_output=True, text=True).stdout.splitlines():
        parts = row.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols[parts[2]] = int(parts[0], 16)
    offsets = Counter(address - symbols[function] for function, address in entries.items() if function in symbols)
    base, votes = offsets.most_common(1)[0] if offsets else (0, 0)
    if votes < len(entries) // 4:
        sys.exit(f"{profile}: cannot tell where valgrind loaded {name} ({votes} of {len(entries)} functions agree)")
    return {address - base for address in addresses}


def listed_bytes(script):
    """The function sections a list names (empty if there is none)."""
    if not os.path.exists(script):
        return set()
    with open(script) as f:
        return {line.strip() for line in f if line.startswith("      .text.")}


def file_pattern(body):
    """A linker-script file pattern for the file part of a map entry (`path/lib.a(member.o)` or `path/file.o`)."""
    path = body.rsplit(":(", 1)[0]
    archive = re.match(r"^(.*)\((.*)\)$", path)
    if archive:
        return f"*{os.path.basename(archive.group(1))}:{archive.group(2)}"
    for marker in ("/release/", "/debug/"):
        if marker in path:
            return "*/" + path.split(marker, 1)[1]
    return "*/" + os.path.basename(path)


def callgrind(workdir, profile, args, env=None):
    sh(["valgrind", "--tool=callgrind", "--dump-instr=yes", f"--callgrind-out-file={profile}", *args],
       cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def profile_helios(binary, bindir, work):
    """`helios job plan`, `job run` (24 one-frame chunks copied by `cp`, progressive merge: enough for the paths only
    later chunks take) and `job status`."""
    synth = os.path.join(bindir, "helios-synth")
    one = os.path.join(work, "one.mp4")
    sh([synth, "render", "--start-frame", "0", "--frame-count", "1", "--fps", "30", "--size", "128x72", "-o", one],
       stdout=subprocess.DEVNULL)
    # valgrind's execve gives up on the first missing PATH entry; this PATH starts where `cp` is.
    env = dict(os.environ, PATH="/usr/bin:/bin")
    profiles = [os.path.join(work, f"helios.{n}.out") for n in range(3)]
    callgrind(work, profiles[0], [binary, "job", "plan", "--id", "hot", "--frames", "24", "--fps", "30", "--width", "128",
                                  "--height", "72", "--chunk-size", "1", "--command", f"cp {one} {{output}}",
                                  "--output-pattern", "chunks/c-{chunk}.mp4", "-o", "spec.json"], env)
    callgrind(work, profiles[1], [binary, "job", "run", "spec.json", "--store", "store", "--concurrency", "4"], env)
    callgrind(work, profiles[2], [binary, "job", "status", "hot", "--store", "store"], env)
    return profiles


def profile_stitch(binary, bindir, work):
    """Three H.264+AAC chunks, and three video-only one-frame chunks from a list, stitched into MP4."""
    synth = os.path.join(bindir, "helios-synth")
    for n in range(3):
        sh([synth, "render", "--start-frame", str(n * 15), "--frame-count", "15", "--fps", "30", "--size", "128x72",
            "-o", os.path.join(work, f"av{n}.mp4")], stdout=subprocess.DEVNULL)
        sh([synth, "render", "--start-frame", str(n), "--frame-count", "1", "--fps", "30", "--size", "128x72",
            "--audio-codec", "none", "-o", os.path.join(work, f"v{n}.mp4")], stdout=subprocess.DEVNULL)
    with open(os.path.join(work, "list.txt"), "w") as f:
        f.write("".join(f"v{n}.mp4\n" for n in range(3)))
    profiles = [os.path.join(work, f"stitch.{n}.out") for n in range(2)]
    callgrind(work, profiles[0], [binary, "av0.mp4", "av1.mp4", "av2.mp4", "-o", "av.mp4"])
    callgrind(work, profiles[1], [binary, "--list", "list.txt", "-o", "v.mp4"])
    return profiles


WORKLOADS = {"helios": profile_helios, "helios-stitch": profile_stitch}


def generate(product, work):
    # helios-synth renders the workloads' inputs; built first, so that the link below is the last.
    sh(["swift", "build", "-c", "release", *RELEASE_FLAGS, "--product", "helios-synth"], stdout=subprocess.DEVNULL)
    map_path = os.path.join(work, f"{product}.map")
    binary = build(product, map_path)
    # valgrind cannot read the DWARF 5 that Swift writes; the code's addresses do not change without it.
    copy = os.path.join(work, product)
    shutil.copy(binary, copy)
    sh(["strip", "--strip-debug", copy])
    addresses = set()
    for profile in WORKLOADS[product](copy, os.path.dirname(binary), work):
        addresses |= executed_addresses(profile, copy)

    sections = text_sections(map_path)
    starts = [s[0] for s in sections]
    functions, files = {}, {}
    for address in addresses:
        i = bisect.bisect_right(starts, address) - 1
        if i < 0 or not sections[i][0] <= address < sections[i][0] + sections[i][1]:
            continue
        _, size, body = sections[i]
        name = body.rsplit(":(", 1)[1][:-1]
        if name.startswith(".text."):
            functions[name] = size
        else:
            files[f"{file_pattern(body)}({name})"] = size
    # How stale the list was: the part of .text the profiled binary's list gathered, against what this run executed.
    total = sum(functions.values()) + sum(files.values())
    previous = listed_bytes(os.path.join(LINKER, f"{product}.lds"))
    if len(functions) < 500:
        sys.exit(f"{product}: only {len(functions)} executed function sections; did a workload fail, or the build "
                 "not compile with -function-sections ($SWIFT_RELEASE_FLAGS)?")

    out = os.path.join(LINKER, f"{product}.lds")
    with open(out, "w") as f:
        f.write(f"/* Generated by scripts/hot_text.py (make hot-text): the code a typical run of {product} executes,\n"
                f"   gathered at the front of the text. {len(functions)} function sections ({sum(functions.values())} bytes),\n"
                f"   then {len(files)} whole-file sections ({sum(files.values())} bytes). */\n")
        # One `.text` (tools such as valgrind know only that name for code): the listed sections first, then the
        # rest as lld would place it; INSERT keeps lld's default layout for everything else.
        f.write("SECTIONS {\n  .text : {\n    *(\n")
        f.writelines(f"      {name}\n" for name in sorted(functions))
        f.write("    )\n")
        f.writelines(f"    {pattern}\n" for pattern in sorted(files))
        f.write("    *(.text .text.*)\n  }\n} INSERT BEFORE .init;\n")
    print(f"{out}: {len(functions)} function sections ({sum(functions.values()) / 1e6:.2f} MB), "
          f"{len(files)} whole-file sections ({sum(files.values()) / 1e6:.2f} MB); the previous list named "
          f"{len(previous & set(functions))} of these {len(functions)} function sections")


def main():
    if not shutil.which("valgrind"):
        sys.exit("hot_text.py needs valgrind (apt-get install valgrind)")
    products = sys.argv[1:] or list(WORKLOADS)
    os.makedirs(LINKER, exist_ok=True)
    for product in products:
        if product not in WORKLOADS:
            sys.exit(f"unknown product {product!r}; known: {', '.join(WORKLOADS)}")
        with tempfile.TemporaryDirectory(prefix=f"hot-text-{product}-") as work:
            generate(product, work)
    # Relink without the map, with the new lists. SwiftPM does not track linker scripts, so the binaries go first.
    bindir = sh(["swift", "build", "-c", "release", *RELEASE_FLAGS, "--show-bin-path"], capture_output=True, text=True).stdout.strip()
    for product in products:
        if os.path.exists(os.path.join(bindir, product)):
            os.remove(os.path.join(bindir, product))
    sh(["swift", "build", "-c", "release", *RELEASE_FLAGS], stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
