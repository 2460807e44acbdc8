#!/usr/bin/env bash
# Builds the self-contained AWS Lambda package (a zip for the provided.al2023 / provided.al2 runtimes):
#
#   bootstrap                    static launcher: runs libexec/helios-worker lambda through lib/ld-linux-x86-64.so.2
#   bootstrap-serve              the same launcher: runs libexec/helios-worker serve (a container's entry point)
#   bin/helios-synth             the same launcher: runs libexec/helios-synth (chunk commands find it on PATH)
#   bin/helios-worker            the same launcher, for running the worker by hand
#   libexec/helios-worker, libexec/helios-synth
#   lib/                         every shared library they need (ldd: Swift runtime, Foundation, libav*, their
#                                dependencies, the C library) and the dynamic loader
#   libz/NAME.zst, libz/ID       the largest libraries, zstd-compressed, when the package would otherwise be larger
#                                than the budget (-u): Lambda refuses more than 250 MB unpacked, and the Swift runtime
#                                plus FFmpeg's dependency closure is about 280 MB. The launcher unpacks them once per
#                                instance into $HELIOS_LIBRARY_CACHE/helios-libs-ID (default /tmp), see launcher.c.
#
# Nothing is loaded from the machine it runs on: the launcher starts the packaged loader with --inhibit-cache and
# --library-path ROOT/lib, so it runs without FFmpeg or Swift installed (Tests/HeliosWorkersTests/LambdaPackageTests
# runs it in an empty chroot).
#
# usage: scripts/lambda-package.sh [-c release|debug] [-o ZIP] [-b PRODUCTS-DIR] [-l ZIP-LEVEL 0-9] [-u MIB] [-z 1-19]
#   -c   build configuration (default release); the products are built with `swift build` unless -b is given
#   -o   the zip to write (default .build/lambda/helios-lambda-CONFIG.zip); written to a temp file, renamed into place
#   -b   take helios-worker and helios-synth from this directory and build nothing (the tests use their products)
#   -l   zip compression level (default 6; 0 stores, which is what the tests use)
#   -u   unpacked-size budget in MiB (default 200, leaving 50 MB of Lambda's limit for layers): the largest libraries
#        are compressed into libz/ until the package fits; 0 compresses every library but the loader
#   -z   zstd level for libz/ (default 9; 1 is fastest, which is what the tests use)
# Prints the zip's path, then its size and the unpacked size. Exit 1 on any failure, 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

config=release
out=""
products=""
level=6
budget=200
zlevel=9
while getopts "c:o:b:l:u:z:" option; do
    case $option in
        c) config=$OPTARG ;;
        o) out=$OPTARG ;;
        b) products=$OPTARG ;;
        l) level=$OPTARG ;;
        u) budget=$OPTARG ;;
        z) zlevel=$OPTARG ;;
        *) echo "usage: $0 [-c release|debug] [-o ZIP] [-b PRODUCTS-DIR] [-l 0-9] [-u MIB] [-z 1-19]" >&2; exit 2 ;;
    esac
done
case $config in release|debug) ;; *) echo "error: -c must be release or debug, not '$config'" >&2; exit 2 ;; esac
case $level in [0-9]) ;; *) echo "error: -l must be 0-9, not '$level'" >&2; exit 2 ;; esac
[[ $budget =~ ^[0-9]+$ ]] || { echo "error: -u must be a whole number of MiB, not '$budget'" >&2; exit 2; }
[[ $zlevel =~ ^[0-9]+$ ]] && [ "$zlevel" -ge 1 ] && [ "$zlevel" -le 19 ] \
    || { echo "error: -z must be 1-19, not '$zlevel'" >&2; exit 2; }
[ "$(uname -m)" = x86_64 ] || { echo "error: the package is built for x86_64; this machine is $(uname -m)" >&2; exit 1; }
for tool in gcc strip ldd zip zstd sha256sum; do
    command -v $tool >/dev/null || { echo "error: $tool is missing (make deps installs it)" >&2; exit 1; }
done

if [ -z "$products" ]; then
    # Release builds use `make build`'s flags (SWIFT_RELEASE_FLAGS), so the two do not rebuild each other's modules.
    flags=()
    [ "$config" = release ] && read -r -a flags <<< "${SWIFT_RELEASE_FLAGS:-}"
    swift build -c "$config" "${flags[@]}" --product helios-worker >&2
    swift build -c "$config" "${flags[@]}" --product helios-synth >&2
    products=$(swift build -c "$config" "${flags[@]}" --show-bin-path)
fi
out=${out:-.build/lambda/helios-lambda-$config.zip}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
executables=(helios-worker helios-synth)
for exe in "${executables[@]}"; do
    [ -x "$products/$exe" ] || { echo "error: $products/$exe is missing or not executable" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/helios-lambda-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/lib" "$root/libexec"

# The launcher: one static program (with zstd's decoder for libz/), copied under every name it answers to.
gcc -static -Os -ffunction-sections -fdata-sections -Wl,--gc-sections -Wall -Wextra -Werror \
    -o "$work/launcher" scripts/lambda/launcher.c -lzstd
strip "$work/launcher"
install -m 755 "$work/launcher" "$root/bootstrap"
install -m 755 "$work/launcher" "$root/bootstrap-serve"
for exe in "${executables[@]}"; do
    install -m 755 "$work/launcher" "$root/bin/$exe"
    # Debug information is not needed to run; symbols stay for readable crash reports in release packages. A debug
    # build's unoptimized worker (with the Cloud Run server in it) is ~100 MB even so: debug packages drop the
    # symbols that dynamic linking does not need, so they fit the default budget too.
    if [ "$config" = debug ]; then strip_mode=--strip-unneeded; else strip_mode=--strip-debug; fi
    strip "$strip_mode" -o "$root/libexec/$exe" "$products/$exe"
    chmod 755 "$root/libexec/$exe"
done

# Every library the executables need, under the name they ask for (ldd resolves the whole closure).
declare -A seen=()
loader=""
for exe in "${executables[@]}"; do
    listing=$(ldd "$products/$exe")
    if grep -q "not found" <<<"$listing"; then
        echo "error: $exe needs libraries this machine does not have:" >&2
        grep "not found" <<<"$listing" >&2
        exit 1
    fi
    while read -r name arrow path _; do
        if [ "$arrow" = "=>" ] && [ "${path:0:1}" = / ]; then
            seen[$name]=$path
        elif [[ $name == /*ld-linux* ]]; then
            loader=$name
        fi
    done <<<"$listing"
done
[ -n "$loader" ] || { echo "error: ldd named no dynamic loader for the executables" >&2; exit 1; }
cp -L "$loader" "$root/lib/ld-linux-x86-64.so.2"
for name in "${!seen[@]}"; do
    [ "$name" = ld-linux-x86-64.so.2 ] && continue
    # --strip-unneeded keeps the dynamic symbol table, which is all the loader uses.
    strip --strip-unneeded -o "$root/lib/$name" "${seen[$name]}" 2>/dev/null || cp -L "${seen[$name]}" "$root/lib/$name"
done
chmod 755 "$root/lib/"*

# Over the budget: compress the largest libraries (never the loader, which must start them) until the package fits.
unpacked=$(du -sb "$root" | cut -f1)
compressed=0
if [ "$unpacked" -gt $((budget * 1048576)) ]; then
    mkdir "$root/libz"
    for name in $(ls -S "$root/lib"); do
        [ "$unpacked" -le $((budget * 1048576)) ] && break
        [ "$name" = ld-linux-x86-64.so.2 ] && continue
        size=$(stat -c %s "$root/lib/$name")
        zstd -q -"$zlevel" -T0 --rm "$root/lib/$name" -o "$root/libz/$name.zst"
        unpacked=$((unpacked - size + $(stat -c %s "$root/libz/$name.zst")))
        compressed=$((compressed + size))
    done
    # The cache directory's name: a hash of what it will hold, so a new package never uses an old cache.
    (cd "$root/libz" && sha256sum -- *.zst) | sha256sum | cut -c1-32 >"$root/libz/ID"
    chmod 644 "$root/libz/"*
fi

# The zip: written beside the target, renamed into place.
rm -f "$work/package.zip"
(cd "$root" && zip -q -r -X "-$level" "$work/package.zip" .)
mv -f "$work/package.zip" "$out"

unpacked=$(du -sb "$root" | cut -f1)
zipped=$(stat -c %s "$out")
echo "$out"
echo "zip $zipped bytes ($((zipped / 1048576)) MiB), unpacked $unpacked bytes ($((unpacked / 1048576)) MiB), ${#seen[@]} libraries + loader" >&2
if [ "$compressed" -gt 0 ]; then
    echo "libz: $(ls "$root/libz" | grep -c '\.zst$') libraries compressed, $compressed bytes ($((compressed / 1048576)) MiB) unpacked into \$HELIOS_LIBRARY_CACHE (default /tmp) at the first start of an instance" >&2
fi
# Lambda refuses a function whose unpacked code exceeds 262,144,000 bytes ("250 MB").
if [ "$unpacked" -gt 262144000 ]; then
    echo "warning: unpacked size $unpacked bytes is over Lambda's 262144000-byte limit for zip packages" >&2
fi
