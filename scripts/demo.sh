#!/usr/bin/env bash
# The main job on an embedded default, no cloud account, through the real product:
#   helios job plan   cut a 10-second 1920x1080 30 fps composition into 10 chunks of 1 s
#   helios job run    render the chunks in parallel, each by a local worker process running
#                     `helios-synth render` (H.264+AAC MP4), then stitch them in process without re-encoding
#   helios job status --report   the stitcher's report
#   helios-synth verify          decode the result: every frame's embedded index, audio continuity and drift
# and print a one-line verdict. Needs a release build (`make demo` does it).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d "${TMPDIR:-/tmp}/helios-demo.XXXXXX")
export HELIOS_HOME="$work/store"  # the demo's job store; ~/.helios is left alone
frames=300 fps=30 size=1920x1080 chunk=30
workers=$(nproc 2>/dev/null || echo 2)

synth=$(printf %q "$bin/helios-synth")
"$bin/helios" job plan --id demo --frames $frames --fps $fps --width 1920 --height 1080 --chunk-size $chunk \
  --command "$synth render --start-frame {start} --frame-count {count} --fps $fps --size $size --video-codec h264 --audio-codec aac -o {output}" \
  --output-pattern "chunks/chunk-{chunk}.mp4" -o "$work/demo.json"
echo "rendering $((frames / chunk)) chunks of $chunk frames at $size with $workers local workers into $work/chunks ..."
if ! "$bin/helios" job run "$work/demo.json" --concurrency "$workers" --output "$work/final.mp4"; then
  echo "verdict: FAILED - the render job did not complete; see HELIOS_HOME=$HELIOS_HOME helios job status demo"
  exit 1
fi
echo
"$bin/helios" job status demo --report
echo

boundaries=$(seq -s, $chunk $chunk $((frames - 1)))
set +e
"$bin/helios-synth" verify "$work/final.mp4" --expect-frames $frames --boundaries "$boundaries" --fps $fps > "$work/verify.txt"
verified=$?
set -e
cat "$work/verify.txt"
echo
decoded=$(sed -n 's/^video [^:]*: \([0-9]*\) frames decoded.*/\1/p' "$work/verify.txt")
drift=$(sed -n 's/^audio [^ ]* \([0-9]*\) Hz:.* drift \(-\{0,1\}[0-9]*\) samples.*/\2 \1/p' "$work/verify.txt" |
  awk '{ printf "%d samples (%.2f ms)", $1, $1 * 1000 / $2 }')
echo "demo: $((SECONDS - started)) s from plan to verdict; chunks, spec and job store in $work"
if [ "$verified" = 0 ]; then
  echo "verdict: OK - $work/final.mp4: $decoded frames, every frame index matches, A/V drift $drift"
else
  reason=$(grep -m1 'failure:' "$work/verify.txt" | sed 's/^ *failure: //' || true)
  echo "verdict: FAILED - $work/final.mp4: ${reason:-helios-synth verify exited $verified}"
  exit 1
fi
