#!/usr/bin/env bash
# Fetches AWS's Lambda Runtime Interface Emulator, which ships inside the aws-sam-cli wheel on PyPI, to
# Fixtures/.generated/tools/aws-lambda-rie (or $1). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-Fixtures/.generated/tools/aws-lambda-rie}
[ -x "$dest" ] && exit 0
mkdir -p "$(dirname "$dest")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: aws-sam-cli -d "$work" >&2
wheel=$(ls "$work"/aws_sam_cli-*.whl | head -1)
python3 - "$wheel" "$work/rie" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    open(sys.argv[2], "wb").write(z.read("samcli/local/rapid/aws-lambda-rie-x86_64"))
PY
chmod +x "$work/rie"
mv "$work/rie" "$dest"
echo "$dest"
