#!/usr/bin/env bash
# Live memory of the event clips' pre-event rings: N simulated RTSP cameras (`sharpeyes simulate
# --activity loop`, x264) at SIZE, read by `sharpeyes run` twice, with `[clips]` on and off.
# After WARM seconds it prints each camera's ring gauges (/metrics), their total, and the process
# RSS of both runs. Usage: [N=8] [SIZE=640x360] [WARM=25] benches/clip_ring_memory.sh
# (after `./dev setup` and `cargo build --release`; uses ports 18554 and 19464 on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-8}; SIZE=${SIZE:-640x360}; WARM=${WARM:-25}
if [ -z "${ORT_DYLIB_PATH:-}" ]; then
  ORT_DYLIB_PATH=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n1)
  export ORT_DYLIB_PATH
fi
BIN=target/release/sharpeyes
W=$(mktemp -d); mkdir -p "$W/cams"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
$BIN simulate --cameras "$N" --port 18554 --activity loop --size "$SIZE" > "$W/sim.log" 2>&1 &
sleep 4
for i in $(seq -f %03g 1 "$N"); do
  printf 'id = "cam-%s"\nname = "cam %s"\nvillage = "Ring"\n[stream]\nurl = "rtsp://127.0.0.1:18554/cam-%s"\n[detect]\nfps = 2.0\n' \
    "$i" "$i" "$i" > "$W/cams/cam-$i.toml"
done
cp configs/default.toml "$W/on.toml"
sed '/^\[clips\]/,/^\[/ s/^enabled = true/enabled = false/' configs/default.toml > "$W/off.toml"
echo "cameras=$N size=$SIZE warm_s=$WARM"
for mode in on off; do
  $BIN run --cameras "$W/cams" --config "$W/$mode.toml" --metrics 127.0.0.1:19464 \
    --outbox "$W/$mode.jsonl" > "$W/$mode.out" 2> "$W/$mode.err" &
  run=$!
  sleep "$WARM"
  curl -s http://127.0.0.1:19464/metrics > "$W/$mode.metrics"
  echo "clips=$mode rss_mib=$(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$run/status)"
  grep -E '^sharpeyes_ingest_clip_ring_(bytes|seconds)' "$W/$mode.metrics" | sort || true
  awk '/^sharpeyes_ingest_clip_ring_bytes/{s+=$2;n++}
       /^sharpeyes_ingest_clip_ring_seconds/{t+=$2}
       END{if(n) printf "rings: %.2f MB over %d cameras: %.2f MB and %.1f s each (%.2f Mbit/s)\n", s/1e6, n, s/1e6/n, t/n, s*8/1e6/t}' \
    "$W/$mode.metrics"
  kill -INT $run; wait $run || true
done
