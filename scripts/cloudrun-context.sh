#!/usr/bin/env bash
# Assembles the Cloud Run image's build context: scripts/cloudrun/Dockerfile and root/, the self-contained worker
# package (scripts/lambda-package.sh) unpacked, with an empty /tmp and the host's CA bundle at
# /etc/ssl/certs/ca-certificates.crt (a FROM scratch image has neither).
#
# usage: scripts/cloudrun-context.sh [-c release|debug] [-o DIR] [-b PRODUCTS-DIR] [-z 1-19]
#   -c   build configuration (default release)
#   -o   the context directory (default .build/cloudrun/context); built beside it, renamed into place
#   -b   take the executables from this directory and build nothing (the tests use their products)
#   -z   zstd level for the package's compressed libraries (default 9; the tests use 1)
# Prints the context directory. Exit 1 on any failure, 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

config=release
out=""
products=""
zstd_level=9
while getopts "c:o:b:z:" option; do
    case $option in
        c) config=$OPTARG ;;
        o) out=$OPTARG ;;
        b) products=$OPTARG ;;
        z) zstd_level=$OPTARG ;;
        *) echo "usage: $0 [-c release|debug] [-o DIR] [-b PRODUCTS-DIR] [-z 1-19]" >&2; exit 2 ;;
    esac
done
out=${out:-.build/cloudrun/context}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$bundle" ] || { echo "error: $bundle is missing (Debian's ca-certificates; make deps installs it)" >&2; exit 1; }
command -v unzip >/dev/null || { echo "error: unzip is missing (make deps installs it)" >&2; exit 1; }

work=$(mktemp -d "$(dirname "$out")/.cloudrun-context.XXXXXX")
trap 'rm -rf "$work"' EXIT
package=(-c "$config" -l 0 -z "$zstd_level" -o "$work/package.zip")
[ -n "$products" ] && package+=(-b "$products")
bash scripts/lambda-package.sh "${package[@]}" >/dev/null
mkdir -p "$work/context/root"
unzip -q "$work/package.zip" -d "$work/context/root"
# Lambda's entry point has no use in the image; the ENTRYPOINT is /bootstrap-serve.
rm -f "$work/context/root/bootstrap"
mkdir -p "$work/context/root/tmp" "$work/context/root/etc/ssl/certs"
chmod 1777 "$work/context/root/tmp"
cp -L "$bundle" "$work/context/root/etc/ssl/certs/ca-certificates.crt"
cp scripts/cloudrun/Dockerfile "$work/context/Dockerfile"
rm -rf "$out.old"
[ -e "$out" ] && mv "$out" "$out.old"
mv "$work/context" "$out"
rm -rf "$out.old"
echo "$out"
echo "context $(du -sb "$out" | cut -f1) bytes" >&2
