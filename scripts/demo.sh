#!/usr/bin/env bash
# The main job on an embedded default, no cloud account: render a 10-second 1920x1080 composition as
# 10 separately encoded H.264+AAC chunks, stitch them in process, check the result with ffprobe, print the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d "${TMPDIR:-/tmp}/helios-demo.XXXXXX")
echo "rendering 10 chunks of 1 s at 1920x1080 into $work/chunks ..."
mkdir -p "$work/chunks"
for k in $(seq 0 9); do
  start=$((k * 30))
  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1920x1080:rate=30,trim=start_frame=$start:end_frame=$((start + 30)),setpts=PTS-STARTPTS" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000,atrim=start_sample=$((start * 1600)):end_sample=$(((start + 30) * 1600)),asetpts=PTS-STARTPTS" \
    -c:v libx264 -preset veryfast -g 30 -pix_fmt yuv420p -c:a aac -b:a 128k "$work/chunks/chunk$(printf %02d "$k").mp4" &
  if (( (k + 1) % 2 == 0 )); then wait; fi
done
wait
"$bin/helios-stitch" "$work"/chunks/chunk*.mp4 -o "$work/final.mp4"
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$work/final.mp4")
warnings=$(ffmpeg -nostdin -v warning -i "$work/final.mp4" -f null - 2>&1 | wc -l)
if [ "$frames" = 300 ] && [ "$warnings" = 0 ]; then
  echo "verdict: OK - $work/final.mp4 has all 300 frames and decodes with no warnings"
else
  echo "verdict: FAILED - $frames frames, $warnings decode warnings"; exit 1
fi
