#!/usr/bin/env bash
# Deterministic chunk sets for the stitcher's tests, made with the ffmpeg CLI. Each chunk is encoded
# separately, as a distributed renderer would: chunk k holds frames [k*F, (k+1)*F) of one composition.
# Usage: Fixtures/generate.sh SET OUTDIR   (SET: see the case below; prints nothing on success)
set -euo pipefail
set_name=$1; out=$2
mkdir -p "$out"
fps=30; size=160x96; rate=48000
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

# chunk INDEX FRAMES VIDEO_ARGS AUDIO_ARGS EXT [FPS] [SIZE] [RATE] [EXTRA_OUT_ARGS]
# START (first frame, default INDEX*FRAMES) and ASRC (audio source filter) may be set in the environment.
chunk() {
  local k=$1 n=$2 vargs=$3 aargs=$4 ext=$5 cfps=${6:-$fps} csize=${7:-$size} crate=${8:-$rate} extra=${9:-}
  local start=${START:-$((k * n))} in=() maps=()
  if [ "$vargs" != none ]; then
    in+=(-f lavfi -i "testsrc2=size=$csize:rate=$cfps,trim=start_frame=$start:end_frame=$((start + n)),setpts=PTS-STARTPTS")
    maps+=(-map 0:v)
  fi
  if [ "$aargs" != none ]; then
    local s0=$((start * crate / cfps)) s1=$(((start + n) * crate / cfps)) ai=$(( ${#maps[@]} / 2 ))
    # AEND: where the soundtrack ends (a sample); a chunk after it gets what ffmpeg writes for an input with no sound.
    if [ -n "${AEND:-}" ]; then s1=$(( s1 < AEND ? s1 : AEND )); s0=$(( s0 < s1 ? s0 : s1 )); fi
    in+=(-f lavfi -i "${ASRC:-sine=frequency=440:sample_rate=$crate},atrim=start_sample=$s0:end_sample=$s1,asetpts=PTS-STARTPTS")
    maps+=(-map "$ai:a")
  fi
  # shellcheck disable=SC2086
  ff "${in[@]}" "${maps[@]}" $( [ "$vargs" != none ] && echo $vargs ) $( [ "$aargs" != none ] && echo $aargs ) \
     -fflags +bitexact -flags:v +bitexact -flags:a +bitexact $extra "$out/chunk$(printf %03d "$k").$ext"
}

H264="-c:v libx264 -threads 1 -preset ultrafast -g 30 -pix_fmt yuv420p"
AAC="-c:a aac -b:a 64k"
CHIRP="aevalsrc=0.4*sin(2*PI*(300*t+40*t*t)):s=$rate"
case "$set_name" in
  mp4-h264-aac)   for k in 0 1 2; do chunk $k 30 "$H264" "$AAC" mp4; done ;;
  mp4-h264-aac-10) for k in $(seq 0 9); do chunk $k 30 "$H264" "$AAC" mp4; done ;;
  mp4-hevc-aac)   for k in 0 1 2; do chunk $k 30 "-c:v libx265 -x265-params log-level=none:pools=1:frame-threads=1 -preset ultrafast -g 30 -pix_fmt yuv420p -tag:v hvc1" "$AAC" mp4; done ;;
  mov-h264-pcm)   for k in 0 1 2; do chunk $k 30 "$H264" "-c:a pcm_s16le" mov; done ;;
  mov-prores-pcm) for k in 0 1 2; do chunk $k 30 "-c:v prores_ks -profile:v 0 -pix_fmt yuv422p10le" "-c:a pcm_s16le" mov; done ;;
  webm-vp9-opus)  for k in 0 1 2; do chunk $k 30 "-c:v libvpx-vp9 -threads 1 -deadline realtime -cpu-used 8 -g 30" "-c:a libopus -b:a 48k" webm; done ;;
  mp4-h264-opus)  for k in 0 1 2; do chunk $k 30 "$H264 -bf 2" "-c:a libopus -b:a 48k" mp4; done ;;
  mp4-h264-flac)  for k in 0 1 2; do chunk $k 30 "$H264" "-c:a flac -strict -2" mp4; done ;;
  mov-mpeg4-alac) for k in 0 1 2; do chunk $k 30 "-c:v mpeg4 -bf 2 -g 30" "-c:a alac" mov; done ;;
  mov-mjpeg-pcm)  for k in 0 1 2; do chunk $k 30 "-c:v mjpeg -pix_fmt yuvj420p" "-c:a pcm_s24le" mov; done ;;
  mov-prores4444-pcm)  # ProRes 4444 with alpha, as renderers write transparent video: the ap4h tag marks the alpha
    start=0; k=0
    for n in 30 1 29; do START=$start chunk $k "$n" "-c:v prores_ks -profile:v 4444 -pix_fmt yuva444p10le" "-c:a pcm_s16le" mov; start=$((start + n)); k=$((k + 1)); done ;;
  mkv-h264-opus)  for k in 0 1 2; do chunk $k 30 "$H264 -bf 2" "-c:a libopus -b:a 48k" mkv; done ;;
  mkv-ffv1-pcm)   for k in 0 1 2; do chunk $k 30 "-c:v ffv1" "-c:a pcm_s16le" mkv; done ;;
  mkv-large-h264)  # frames of a few hundred KB (lossless 720p), where probing walks the Matroska block headers
    for k in 0 1; do chunk $k 24 "-c:v libx264 -threads 1 -preset ultrafast -qp 0 -g 30 -pix_fmt yuv420p" "$AAC" mkv 30 1280x720; done ;;
  mkv-av1-opus)   for k in 0 1 2; do chunk $k 30 "-c:v libsvtav1 -preset 12 -g 30 -svtav1-params lp=1" "-c:a libopus -b:a 48k" mkv; done ;;
  webm-opus-uneven)  # uneven chunks (one of a single frame) of an aperiodic chirp, to locate every sample
    start=0; k=0
    for n in 31 29 1 44 15; do
      START=$start ASRC="$CHIRP" chunk $k "$n" "-c:v libvpx-vp9 -threads 1 -deadline realtime -cpu-used 8 -g 30" "-c:a libopus -b:a 64k" webm
      start=$((start + n)); k=$((k + 1))
    done ;;
  chirp-reference)  # the whole 120 frames of that chirp as raw samples: the oracle for webm-opus-uneven
    ff -f lavfi -i "$CHIRP,atrim=end_sample=$((120 * rate / fps))" -f f32le -ac 1 "$out/reference.f32" ;;
  exact-mp4|exact-mkv|exact-webm|exact-vorbis|exact-mp3|exact-mp4-single|exact-mkv-single|exact-webm-single|exact-vorbis-single|exact-mp3-single)
    # --audio exact: the chirp in uneven chunks (one of a single frame), B-frame H.264 with AAC (VP9 with Opus in
    # WebM, VP9 with Vorbis in WebM for -vorbis, H.264 with MP3 in MP4 for -mp3); -single is the same 120 frames rendered in one pass, the reference
    # for the boundary step.
    IFS=- read -r -a parts <<<"$set_name"
    ctr=${parts[1]}; sizes="31 29 1 44 15"; [ "${parts[2]:-}" = single ] && sizes=120
    v="-c:v libx264 -threads 1 -preset veryfast -bf 3 -g 30 -pix_fmt yuv420p"; a="-c:a aac -b:a 64k"
    [ "$ctr" = webm ] && { v="-c:v libvpx-vp9 -threads 1 -deadline realtime -cpu-used 8 -g 30"; a="-c:a libopus -b:a 64k"; }
    [ "$ctr" = mp3 ] && { ctr=mp4; a="-c:a libmp3lame -b:a 64k"; }
    [ "$ctr" = vorbis ] && { ctr=webm; v="-c:v libvpx-vp9 -threads 1 -deadline realtime -cpu-used 8 -g 30"; a="-c:a libvorbis -b:a 64k"; }
    start=0; k=0
    for n in $sizes; do
      START=$start ASRC="$CHIRP" chunk $k "$n" "$v" "$a" "$ctr"
      start=$((start + n)); k=$((k + 1))
    done ;;
  ts-h264-aac)    for k in 0 1 2; do chunk $k 30 "$H264 -bsf:v h264_mp4toannexb" "$AAC" ts; done ;;
  mp4-video-only) for k in 0 1 2; do chunk $k 30 "$H264" none mp4; done ;;
  m4a-audio-only) for k in 0 1 2; do chunk $k 30 none "$AAC" m4a; done ;;
  mkv-attachment)  # Matroska chunks that carry a file beside their streams, as styled subtitles carry their fonts (mkvmerge)
    plain=$(mktemp -d)
    printf 'helios test font\n' > "$plain/font.ttf"
    for k in 0 1 2; do
      out=$plain chunk $k 30 "$H264 -bf 2" "$AAC" mkv
      mkvmerge -q -o "$out/chunk00$k.mkv" --attachment-mime-type font/ttf --attach-file "$plain/font.ttf" "$plain/chunk00$k.mkv"
    done
    rm -rf "$plain" ;;
  m4a-cover-art)  # audio chunks that each carry the same cover art (an attached PNG), as podcast and audiobook tools write
    art=$(mktemp -d)
    ff -f lavfi -i "testsrc2=size=64x64" -frames:v 1 "$art/cover.png"
    for k in 0 1 2; do
      out=$art chunk $k 30 none "$AAC" m4a
      ff -i "$art/chunk00$k.m4a" -i "$art/cover.png" -map 0 -map 1 -c:a copy -c:v png -disposition:v attached_pic \
         -fflags +bitexact "$out/chunk00$k.m4a"
    done
    rm -rf "$art" ;;
  mp4-tiny-1000)  # 1,000 one-frame chunks: made once, then copied with their frame index kept in the name.
    chunk 0 1 "$H264" none mp4
    for k in $(seq 1 999); do cp "$out/chunk000.mp4" "$out/tiny$(printf %04d "$k").mp4"; done
    mv "$out/chunk000.mp4" "$out/tiny0000.mp4" ;;
  mp4-tiny-10000)  # 10,000 one-frame chunks, the same way
    chunk 0 1 "$H264" none mp4
    for k in $(seq 1 9999); do cp "$out/chunk000.mp4" "$out/tiny$(printf %05d "$k").mp4"; done
    mv "$out/chunk000.mp4" "$out/tiny00000.mp4" ;;
  # Bad inputs, each a single chunk to put beside a good set.
  bad-resolution)  chunk 1 30 "$H264" "$AAC" mp4 "$fps" 192x108 ;;
  bad-codec)       chunk 1 30 "-c:v mpeg4 -g 30" "$AAC" mp4 ;;
  bad-samplerate)  chunk 1 30 "$H264" "$AAC" mp4 "$fps" "$size" 44100 ;;
  bad-layout)      chunk 1 30 "$H264" none mp4 ;;
  bad-fps)         chunk 1 25 "$H264" "$AAC" mp4 25 ;;
  bad-nokeyframe)  # a chunk cut out of a longer encode at a non-keyframe, without re-encoding
    chunk 0 60 "$H264 -bf 0" "$AAC" mp4
    ff -i "$out/chunk000.mp4" -ss 0.5 -copyinkf -c copy -map 0 -avoid_negative_ts make_zero -fflags +bitexact "$out/cut.mp4"
    rm "$out/chunk000.mp4" ;;
  bad-ac3-audio)   chunk 0 30 "$H264" "-c:a ac3" mp4 ;;  # a codec --audio exact does not re-encode
  bad-short-audio) chunk 1 30 "$H264" "$AAC -af atrim=end=0.5" mp4 ;;
  # The chunk matrix real renderers produce: matrix-CONTAINER-CODEC-BFRAMES-SPLIT, e.g. matrix-mkv-h264-bf3-a.
  # CONTAINER: mp4 mov mkv webm ts fmp4 (fragmented MP4) dfmp4 (fragmented, moov delayed for its edit lists) cmaf
  # (CMAF: fragmented, no edit list, signed composition offsets, each track starting at 0); CODEC: h264 hevc vp9; BFRAMES: bf0, bf3...;
  # SPLIT a: 2,9,1,30 (short chunks before longer ones), b: 30,30,30,1 (a 1-frame remainder), c: 1,1,2,1,5,1.
  # Audio is AAC (Opus in WebM), cut from one tone at each chunk's exact sample span.
  voaacenc-mov)  # GStreamer's qtmux with voaacenc, which drops each chunk's partial last AAC frame: ten chunks of 30
    # frames, each 896 samples short of its picture
    for k in $(seq 0 9); do
      gst-launch-1.0 -q -e videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=160,height=96,framerate=30/1,format=I420 \
        ! x264enc key-int-max=30 threads=1 ! h264parse ! qtmux name=m ! filesink location="$out/chunk$(printf %03d "$k").mov" \
        audiotestsrc num-buffers=30 samplesperbuffer=1600 ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! voaacenc ! aacparse ! m. >/dev/null
    done ;;
  ps-h264-gst)  # GStreamer's program stream (mpegpsmux) with H.264 (x264enc's defaults) and MP3: libavformat's probe takes
    # its 2- and 1-frame chunks (under 4 KB) for MP4, and its B-frames' decode timestamps do not increase
    k=0
    for n in 2 9 1 30; do
      gst-launch-1.0 -q -e videotestsrc num-buffers="$n" pattern=ball ! video/x-raw,width=160,height=96,framerate=30/1,format=I420 \
        ! x264enc key-int-max=30 threads=1 ! h264parse ! mpegpsmux name=m ! filesink location="$out/chunk$(printf %03d "$k").mpg" \
        audiotestsrc num-buffers="$n" samplesperbuffer=1600 ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! lamemp3enc ! mpegaudioparse ! m. >/dev/null
      k=$((k + 1))
    done ;;
  opus-mp4-gst)  # Opus in MP4 from GStreamer 1.22's mp4mux, whose dOps box holds its fields little-endian
    k=0
    for n in 1 8; do
      gst-launch-1.0 -q -e videotestsrc num-buffers="$n" ! video/x-raw,width=160,height=96,framerate=30/1,format=I420 \
        ! x264enc key-int-max=30 threads=1 ! h264parse ! mp4mux name=m ! filesink location="$out/chunk$(printf %03d "$k").mp4" \
        audiotestsrc num-buffers="$n" samplesperbuffer=1600 ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! opusenc ! opusparse ! m. >/dev/null
      k=$((k + 1))
    done ;;
  matrix-*|mkvmerge-*|gst-*)
    IFS=- read -r -a parts <<<"$set_name"
    tool=${parts[0]}
    case "$tool" in
      matrix)   ctr=${parts[1]} codec=${parts[2]} bf=${parts[3]} split=${parts[4]} ;;
      mkvmerge) ctr=mkv codec=${parts[1]} bf=${parts[2]} split=${parts[3]} ;;   # ffmpeg's MP4 chunks, remuxed by mkvmerge
      gst)      ctr=${parts[1]} codec=h264 bf=${parts[2]} split=${parts[3]} ;;  # GStreamer: x264enc, avenc_aac, its own muxers (fmp4: fragmented)
    esac
    nbf=${bf#bf}
    # d: equal chunks long enough that a rate off by a fraction of a tick a frame adds up (8 s each)
    case "$split" in a) sizes="2 9 1 30" ;; b) sizes="30 30 30 1" ;; c) sizes="1 1 2 1 5 1" ;; d) sizes="240 240" ;; *) echo "unknown split $split" >&2; exit 2 ;; esac
    case "$codec" in
      h264) v="-c:v libx264 -threads 1 -preset veryfast -bf $nbf -g 30 -pix_fmt yuv420p" ;;
      hevc) v="-c:v libx265 -preset ultrafast -g 30 -pix_fmt yuv420p -x265-params log-level=none:pools=1:frame-threads=1:bframes=$nbf" ;;
      vp9)  v="-c:v libvpx-vp9 -threads 1 -deadline realtime -cpu-used 8 -g 30" ;;
    esac
    { [ "$ctr" = mp4 ] || [ "$ctr" = fmp4 ] || [ "$ctr" = dfmp4 ] || [ "$ctr" = cmaf ]; } && [ "$codec" = hevc ] && v="$v -tag:v hvc1"
    a="-c:a aac -b:a 64k"; [ "$ctr" = webm ] && a="-c:a libopus -b:a 48k"
    ext=$ctr; extra=""
    [ "$tool" = mkvmerge ] && ext=mp4
    [ "$ctr" = fmp4 ] && { ext=mp4; extra="-movflags +frag_keyframe+empty_moov+default_base_moof"; }
    [ "$ctr" = cmaf ] && { ext=mp4; extra="-movflags +cmaf"; }
    [ "$ctr" = dfmp4 ] && { ext=mp4; extra="-movflags +frag_keyframe+empty_moov+delay_moov"; }  # edit lists, as HLS/DASH muxers write
    [ "$ctr" = ts ] && [ "$codec" = h264 ] && v="$v -bsf:v h264_mp4toannexb"
    start=0; k=0
    for n in $sizes; do
      if [ "$tool" = gst ]; then
        name="$out/chunk$(printf %03d "$k").${ctr/fmp4/mp4}"
        case "$ctr" in mp4) mux=mp4mux ;; fmp4) mux="mp4mux fragment-duration=1000" ;; *) mux=matroskamux ;; esac
        gst-launch-1.0 -q -e videotestsrc num-buffers="$n" pattern=ball ! video/x-raw,width=160,height=96,framerate=30/1,format=I420 \
          ! x264enc bframes="$nbf" key-int-max=30 threads=1 ! h264parse ! $mux name=m ! filesink location="$name" \
          audiotestsrc num-buffers="$n" samplesperbuffer=1600 ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! avenc_aac ! aacparse ! m. >/dev/null
      else
        START=$start chunk $k "$n" "$v" "$a" "$ext" "$fps" "$size" "$rate" "$extra"
        if [ "$tool" = mkvmerge ]; then
          src="$out/chunk$(printf %03d "$k").mp4"
          mkvmerge -q -o "${src%.mp4}.mkv" "$src" && rm "$src"
        fi
      fi
      start=$((start + n)); k=$((k + 1))
    done ;;
  # Lossless audio in the matrix's splits: lossless-CONTAINER-VIDEO-AUDIO-BFRAMES-SPLIT, e.g. lossless-mkv-ffv1-flac-bf0-a.
  # The tone is cut at each chunk's exact sample span, so each chunk's audio differs and so does its FLAC header
  # (frame sizes, sample count, MD5), as a renderer's chunks do; the last block of every chunk is a partial one.
  lossless-*)
    IFS=- read -r -a parts <<<"$set_name"
    ctr=${parts[1]} vcodec=${parts[2]} acodec=${parts[3]} nbf=${parts[4]#bf} split=${parts[5]}
    case "$split" in a) sizes="2 9 1 30" ;; b) sizes="30 30 30 1" ;; c) sizes="1 1 2 1 5 1" ;; *) echo "unknown split $split" >&2; exit 2 ;; esac
    case "$vcodec" in
      h264) v="-c:v libx264 -threads 1 -preset veryfast -bf $nbf -g 30 -pix_fmt yuv420p" ;;
      ffv1) v="-c:v ffv1 -threads 1" ;;
      *) echo "unknown video codec $vcodec" >&2; exit 2 ;;
    esac
    a="-c:a $acodec"; [ "$ctr" = mp4 ] && a="$a -strict -2"  # FLAC in MP4 is experimental in FFmpeg 5
    start=0; k=0
    for n in $sizes; do START=$start chunk $k "$n" "$v" "$a" "$ctr"; start=$((start + n)); k=$((k + 1)); done ;;
  # Chunks with a QuickTime timecode track (tmcd), as editors and renderers write them: each chunk's timecode is
  # 01:00:00:00 plus its first frame. timecode-mov: H.264 with B-frames and PCM; timecode-mp4: H.264 and AAC.
  timecode-mov|timecode-mp4)
    ext=${set_name#timecode-}; a="-c:a pcm_s16le"; [ "$ext" = mp4 ] && a="$AAC"
    start=0; k=0
    for n in 1 8 2 20; do
      tc=$(printf "01:00:%02d:%02d" $((start / fps)) $((start % fps)))
      START=$start chunk $k "$n" "$H264 -bf 3" "$a" "$ext" "$fps" "$size" "$rate" "-timecode $tc"
      start=$((start + n)); k=$((k + 1))
    done ;;
  # Other encoders, codecs and rates a pipeline meets, in chunks of 1, 8, 2 and 20 frames (30 at NTSC rates, so a
  # frame's duration never divides evenly): realworld-NAME.
  realworld-*)
    sizes="1 8 2 20"; cfps=$fps; crate=$rate; extra=""; vsize=$size; remux=""
    case "${set_name#realworld-}" in
      mkv-h264-mp3)      ext=mkv; v="$H264 -bf 3"; a="-c:a libmp3lame -b:a 96k" ;;
      mp4-h264-ac3)      ext=mp4; v="$H264 -bf 3"; a="-c:a ac3" ;;
      mkv-h264-eac3)     ext=mkv; v="$H264 -bf 3"; a="-c:a eac3" ;;
      ts-mpeg2-mp2)      ext=ts;  v="-c:v mpeg2video -bf 2 -g 15"; a="-c:a mp2" ;;
      mp4-h264-aac-ntsc) ext=mp4; v="$H264 -bf 3"; a="$AAC"; cfps=30000/1001; sizes="1 8 2 20 30" ;;
      mkv-h264-opus-ntsc) ext=mkv; v="$H264 -bf 3"; a="-c:a libopus -b:a 48k"; cfps=30000/1001; sizes="1 8 2 20 30" ;;
      mp4-h264-aac-60fps-44k) ext=mp4; v="$H264 -bf 3"; a="$AAC"; cfps=60; crate=44100 ;;
      mp4-h264-aac-120fps) ext=mp4; v="$H264 -bf 3"; a="$AAC"; cfps=120; sizes="1 1 1 8 2 20" ;;  # a frame is 400 samples, under half an AAC frame
      fmp4-h264-aac-60fps) ext=mp4; v="$H264"; a="$AAC"; cfps=60; extra="-movflags +frag_keyframe+empty_moov+default_base_moof" ;;  # priming outlasts a frame
      fmp4-h264-aac-50fps) ext=mp4; v="$H264"; a="$AAC"; cfps=50; extra="-movflags +frag_keyframe+empty_moov+default_base_moof" ;;
      mp4-h264-aac-ms)   ext=mp4; v="$H264 -bf 3"; a="$AAC"; extra="-video_track_timescale 1000" ;;  # 33/34 ms frames
      mp4-h264-aac-from-mkv) ext=mkv; v="$H264 -bf 3"; a="$AAC"; remux=mp4 ;;  # recorded to Matroska, remuxed to MP4 (ffmpeg -c copy, OBS): millisecond timestamps in 1/16000
      webm-vp9-altref)   ext=webm; v="-c:v libvpx-vp9 -threads 1 -deadline good -cpu-used 8 -auto-alt-ref 1 -lag-in-frames 16 -g 30"; a="-c:a libopus -b:a 48k" ;;
      webm-vp8-live)     ext=webm; v="-c:v libvpx -threads 1 -deadline realtime -g 30"; a="-c:a libopus -b:a 48k"; extra="-live 1" ;;  # no Cues, unknown sizes
      mxf-mpeg2-pcm)     ext=mxf; v="-c:v mpeg2video -b:v 2M -bf 2 -g 12"; a="-c:a pcm_s16le"; cfps=25 ;;  # MXF OP1a, as broadcast renders deliver
      mov-dnxhr-pcm)     ext=mov; v="-c:v dnxhd -profile:v dnxhr_lb -pix_fmt yuv422p"; a="-c:a pcm_s24le"; vsize=256x144 ;;  # as editors export intermediates
      ps-mpeg2-mp2)      ext=mpg; v="-c:v mpeg2video -bf 2 -g 12"; a="-c:a mp2"; cfps=25 ;;  # MPEG program stream, as DVD authoring takes
      avi-mpeg4-mp3)     ext=avi; v="-c:v mpeg4 -g 30"; a="-c:a libmp3lame -b:a 96k" ;;  # as AVI holds MPEG-4 Part 2 (DivX, Xvid)
      mkv-av1-aom)       ext=mkv; v="-c:v libaom-av1 -threads 1 -cpu-used 8 -lag-in-frames 16 -g 30"; a="-c:a libopus -b:a 48k" ;;
      *) echo "unknown fixture set: $set_name" >&2; exit 2 ;;
    esac
    start=0; k=0
    for n in $sizes; do
      s0=$(python3 -c "from fractions import Fraction as F; print(int(F($start) * $crate / F('$cfps')))")
      s1=$(python3 -c "from fractions import Fraction as F; print(int(F($start + $n) * $crate / F('$cfps')))")
      ff -f lavfi -i "testsrc2=size=$vsize:rate=$cfps,trim=start_frame=$start:end_frame=$((start + n)),setpts=PTS-STARTPTS" \
         -f lavfi -i "sine=frequency=440:sample_rate=$crate,atrim=start_sample=$s0:end_sample=$s1,asetpts=PTS-STARTPTS" \
         -map 0:v -map 1:a $v $a -fflags +bitexact -flags:v +bitexact -flags:a +bitexact $extra "$out/chunk$(printf %03d "$k").$ext"
      if [ -n "$remux" ]; then
        f="$out/chunk$(printf %03d "$k")"
        ff -i "$f.$ext" -map 0 -c copy -fflags +bitexact "$f.$remux" && rm "$f.$ext"
      fi
      start=$((start + n)); k=$((k + 1))
    done ;;
  # Stream side data a player needs. sidedata-rotation: MP4 chunks as a phone records portrait video, stored
  # landscape and turned by a display matrix (rotation 90). sidedata-hdr: 10-bit HEVC PQ chunks in Matroska with
  # HDR10 mastering display and content light levels (set by mkvmerge).
  alpha-webm-vp9)  # transparent WebM, as renderers write it: VP9 with its alpha plane in Matroska BlockAdditions
    start=0; k=0
    for n in 2 9 1 20; do
      ff -f lavfi -i "testsrc2=size=160x96:rate=30,format=yuva420p,geq=lum='lum(X,Y)':a='mod(X+3*N,256)',trim=start_frame=$start:end_frame=$((start + n)),setpts=PTS-STARTPTS" \
         -f lavfi -i "sine=sample_rate=$rate,atrim=start_sample=$((start * 1600)):end_sample=$(((start + n) * 1600)),asetpts=PTS-STARTPTS" \
         -c:v libvpx-vp9 -pix_fmt yuva420p -threads 1 -deadline realtime -cpu-used 8 -g 30 -c:a libopus -b:a 48k \
         -fflags +bitexact "$out/chunk$(printf %03d "$k").webm"
      start=$((start + n)); k=$((k + 1))
    done ;;
  sidedata-rotation)
    for k in 0 1 2; do
      chunk $k 30 "$H264 -bf 2" "$AAC" mp4
      f="$out/chunk$(printf %03d "$k").mp4"
      ff -i "$f" -map 0 -c copy -metadata:s:v:0 rotate=90 -fflags +bitexact "$f.tmp.mp4" && mv "$f.tmp.mp4" "$f"
    done ;;
  sidedata-hdr)
    plain=$(mktemp -d)
    for k in 0 1 2; do
      START=$((k * 30)) out=$plain chunk $k 30 "-c:v libx265 -x265-params log-level=none:pools=1:frame-threads=1 -preset ultrafast -pix_fmt yuv420p10le -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc" "$AAC" mkv
      mkvmerge -q -o "$out/chunk$(printf %03d "$k").mkv" --max-content-light 0:1000 --max-frame-light 0:400 \
        --max-luminance 0:1000 --min-luminance 0:0.005 --chromaticity-coordinates 0:0.708,0.292,0.170,0.797,0.131,0.046 \
        --white-colour-coordinates 0:0.3127,0.3290 "$plain/chunk$(printf %03d "$k").mkv"
    done
    rm -rf "$plain" ;;
  # Segments of one stream as GStreamer's splitmuxsink writes them into MPEG-TS (1-second segments of 3 s, H.264
  # with 2 B-frames and AAC): timestamps converted from nanoseconds, so frames last 2999, 3000 or 3001 ticks, and
  # the last segment ends with the AAC encoder's flush frame, which MPEG-TS cannot mark as padding.
  splitmux-ts)
    gst-launch-1.0 -q -e videotestsrc num-buffers=90 pattern=ball ! video/x-raw,width=160,height=96,framerate=30/1,format=I420 \
      ! x264enc bframes=2 key-int-max=30 threads=1 ! h264parse ! queue ! mux.video \
      audiotestsrc num-buffers=141 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! avenc_aac ! aacparse \
      ! queue ! mux.audio_0 splitmuxsink name=mux muxer=mpegtsmux max-size-time=1000000000 location="$out/chunk%03d.ts" >/dev/null ;;
  # Chunks with a data stream beside picture and sound, which the stitch leaves out: MPEG-TS private data (as ffmpeg
  # -f data muxes it) in chunks of 30 and 1 frames, and DVD video (-target pal-dvd: MPEG-2, AC-3 and a navigation
  # stream) in chunks of 12 and 1 frames.
  datastream-ts)
    printf 'helios %.0s' $(seq 1 500) > "$out/.data.bin"
    start=0; k=0
    for n in 30 1; do
      ff -f lavfi -i "testsrc2=size=$size:rate=$fps,trim=start_frame=$start:end_frame=$((start + n)),setpts=PTS-STARTPTS" \
         -f lavfi -i "sine=frequency=440:sample_rate=$rate,atrim=start_sample=$((start * rate / fps)):end_sample=$(((start + n) * rate / fps)),asetpts=PTS-STARTPTS" \
         -f data -i "$out/.data.bin" -map 0:v -map 1:a -map 2:d $H264 -bf 2 $AAC -c:d copy \
         -fflags +bitexact -flags:v +bitexact -flags:a +bitexact "$out/chunk$(printf %03d "$k").ts"
      start=$((start + n)); k=$((k + 1))
    done
    rm "$out/.data.bin" ;;
  vob-mpeg2-ac3)
    start=0; k=0
    for n in 12 1; do
      ff -f lavfi -i "testsrc2=size=720x576:rate=25,trim=start_frame=$start:end_frame=$((start + n)),setpts=PTS-STARTPTS" \
         -f lavfi -i "sine=frequency=440:sample_rate=48000,atrim=start_sample=$((start * 1920)):end_sample=$(((start + n) * 1920)),asetpts=PTS-STARTPTS" \
         -target pal-dvd -c:a ac3 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact "$out/chunk$(printf %03d "$k").vob"
      start=$((start + n)); k=$((k + 1))
    done ;;
  # Pieces cut from one file with stream copy (ffmpeg -ss S -i long.mp4 -t 2 -c copy), as users split a video: each
  # piece starts on a key frame and ends past its cut on a reference frame, without the B-frames shown before it.
  copycut-mp4)
    long=$(mktemp -d)
    ff -f lavfi -i "testsrc2=size=$size:rate=$fps" -f lavfi -i "sine=frequency=440:sample_rate=$rate" -t 6 $H264 -bf 2 $AAC \
       -fflags +bitexact -flags:v +bitexact -flags:a +bitexact "$long/long.mp4"
    for k in 0 1 2; do ff -ss $((k * 2)) -i "$long/long.mp4" -t 2 -c copy -fflags +bitexact "$out/chunk00$k.mp4"; done
    rm -rf "$long" ;;
  silent-*)  # a renderer's silent chunk written without a sound track, between chunks with one: silent-CONTAINER;
    # silent-first-CONTAINER: the first two chunks silent (a title without sound)
    ext=${set_name#silent-}; v="$H264 -bf 3"; a="$AAC"; silent=" 1 "
    case "$ext" in first-*) ext=${ext#first-}; silent=" 0 1 " ;; esac
    case "$ext" in webm) v="-c:v libvpx-vp9 -threads 1 -deadline realtime -cpu-used 8 -g 30"; a="-c:a libopus -b:a 48k" ;;
                   cmaf) ext=mp4; v="$v -movflags +cmaf" ;; esac
    start=0; k=0
    for n in 30 20 30 1; do
      if [[ "$silent" == *" $k "* ]]; then START=$start chunk $k "$n" "$v" none "$ext"; else START=$start chunk $k "$n" "$v" "$a" "$ext"; fi
      start=$((start + n)); k=$((k + 1))
    done ;;
  shorttrack-*)  # a soundtrack shorter than the video, rendered with each chunk (ffmpeg -i video -i shorter.wav): it
    # ends halfway through chunk 2 (1.5 s), and the chunks after it have no sound track (MP4, MOV) or an empty one
    # (Matroska, WebM, MPEG-TS, fragmented MP4). shorttrack-last-CONTAINER: it ends inside the last chunk (2.2 s of 2.667)
    ext=${set_name#shorttrack-}; v="$H264 -bf 3"; a="$AAC"; extra=""; sizes="30 30 29 1"; end=$((3 * rate / 2))
    case "$ext" in last-*) ext=${ext#last-}; sizes="30 30 20"; end=$((22 * rate / 10)) ;; esac
    case "$ext" in webm) v="-c:v libvpx-vp9 -threads 1 -deadline realtime -cpu-used 8 -g 30"; a="-c:a libopus -b:a 48k" ;;
                   mov) a="-c:a pcm_s16le" ;;
                   fmp4) ext=mp4; extra="-movflags +frag_keyframe+empty_moov+default_base_moof" ;; esac
    start=0; k=0
    for n in $sizes; do
      AEND=$end START=$start chunk $k "$n" "$v" "$a" "$ext" "$fps" "$size" "$rate" "$extra"
      start=$((start + n)); k=$((k + 1))
    done ;;
  copycut-keyframes-mp4)  # the same cut between keyframes (GOP 60): each piece starts with frames its edit list hides
    long=$(mktemp -d)
    ff -f lavfi -i "testsrc2=size=$size:rate=$fps" -t 4 -c:v libx264 -threads 1 -preset ultrafast -g 60 -bf 0 -pix_fmt yuv420p \
       -fflags +bitexact -flags:v +bitexact "$long/long.mp4"
    ff -i "$long/long.mp4" -t 0.5 -c copy -fflags +bitexact "$out/chunk000.mp4"
    ff -ss 0.5 -i "$long/long.mp4" -t 1 -c copy -fflags +bitexact "$out/chunk001.mp4"
    rm -rf "$long" ;;
  # A subtitle track in every chunk, one cue each (0.1 s to 0.6 s of the chunk, saying "chunk K"), in chunks of 30,
  # 20 and 30 frames: subtitles-mp4 (mov_text, with the empty sample ffmpeg writes after the last cue),
  # subtitles-mkv (SubRip).
  subtitles-mp4|subtitles-mkv)
    ext=${set_name#subtitles-}; codec=srt; [ "$ext" = mp4 ] && codec=mov_text
    cues=$(mktemp -d); start=0; k=0
    for n in 30 20 30; do
      printf '1\n00:00:00,100 --> 00:00:00,600\nchunk %d\n' "$k" > "$cues/$k.srt"
      # shellcheck disable=SC2086
      ff -f lavfi -i "testsrc2=size=$size:rate=$fps,trim=start_frame=$start:end_frame=$((start + n)),setpts=PTS-STARTPTS" \
         -f lavfi -i "sine=frequency=440:sample_rate=$rate,atrim=start_sample=$((start * rate / fps)):end_sample=$(((start + n) * rate / fps)),asetpts=PTS-STARTPTS" \
         -i "$cues/$k.srt" -map 0:v -map 1:a -map 2:s $H264 -bf 2 $AAC -c:s $codec \
         -fflags +bitexact -flags:v +bitexact -flags:a +bitexact "$out/chunk$(printf %03d "$k").$ext"
      start=$((start + n)); k=$((k + 1))
    done
    rm -rf "$cues" ;;
  # Segments cut from one encode by ffmpeg's segment and HLS muxers, as a pipeline that renders one stream and
  # splits it writes them: timestamps continue from segment to segment, and each segment's audio starts a few packets
  # before its video. segments-NAME-whole is the same encode in one file, the oracle. AAC without PNS, whose noise
  # generator would make a decode that skips the priming packet differ from the whole by a few LSB. The sound is the
  # aperiodic chirp, so that a decode matches the whole's at one shift only.
  segments-*)
    name=${set_name#segments-}; whole=false; reset=0
    case "$name" in *-whole) whole=true; name=${name%-whole} ;; esac
    # segments-reset-NAME: the same cut with -reset_timestamps 1, each file's timestamps starting afresh.
    case "$name" in reset-*) reset=1; name=${name#reset-} ;; esac
    v="-c:v libx264 -threads 1 -preset ultrafast -pix_fmt yuv420p"; a="-c:a aac -b:a 64k -aac_pns 0"; frames=""; muxer=segment
    case "$name" in
      ts-h264-bf0)  ext=ts;  v="$v -bf 0"; frames=1,2,3,33,60 ;;    # segments of 1, 1, 1, 30, 27 and 30 frames
      ts-h264-bf3)  ext=ts;  v="$v -bf 3"; frames=30,31,61,75 ;;    # 30, 1, 30, 14 and 15
      mkv-h264-bf2) ext=mkv; v="$v -bf 2"; frames=30,31,32,62 ;;    # 30, 1, 1, 30 and 28
      mp4-h264-bf2) ext=mp4; v="$v -bf 2"; frames=30,31,61,75 ;;    # 30, 1, 30, 14 and 15; edit lists in milliseconds
      webm-vp9-opus) ext=webm; v="-c:v libvpx-vp9 -threads 1 -deadline realtime -cpu-used 8"; a="-c:a libopus -b:a 48k"
                    frames=1,2,31,61,75 ;;                          # 1, 1, 29, 30, 14 and 15; pre-skip in every header
      hls-h264-bf3) ext=ts;  v="$v -bf 3 -g 30"; muxer=hls ;;       # the HLS muxer's 1-second segments
      *) echo "unknown fixture set: $set_name" >&2; exit 2 ;;
    esac
    keys=()
    [ -n "$frames" ] && keys=(-force_key_frames "$(python3 -c "print(','.join(str(int(f) / $fps) for f in '$frames'.split(',')))")")
    src=(-f lavfi -i "testsrc2=size=$size:rate=$fps" -f lavfi -i "$CHIRP" -t 3 $v "${keys[@]}" $a
         -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)
    if $whole; then ff "${src[@]}" "$out/whole.$ext"
    elif [ $muxer = hls ]; then
      ff "${src[@]}" -f hls -hls_time 1 -hls_list_size 0 -hls_segment_filename "$out/chunk%03d.ts" "$out/.playlist.m3u8"
    else ff "${src[@]}" -f segment -segment_frames "$frames" -reset_timestamps $reset "$out/chunk%03d.$ext"; fi ;;
  *) echo "unknown fixture set: $set_name" >&2; exit 2 ;;
esac
