#!/usr/bin/env bash
# How fast does `cyberlm generate` write logs, build against build? Each binary of
# CYBERLM_BINS (default: this checkout's release build) generates the same logs with the
# same seed, one after another; prints wall time, logs/s, bytes/s of JSON, peak RSS, and
# whether each build's logs are byte for byte the first build's (a faster build that
# writes other logs changed more than speed).
#
#   bench/generate.sh MODEL SOURCE [COUNT]
#
#   MODEL    a model folder `cyberlm train` wrote
#   SOURCE   azure, confluence or cloudtrail
#   COUNT    logs per build (default 64)
#
# Prints figures; asserts nothing. Outputs stay in the folder it names.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
MODEL="$1"; SOURCE="$2"; COUNT="${3:-64}"
read -r -a BINS <<< "${CYBERLM_BINS:-target/release/cyberlm}"
[ -x "${BINS[0]}" ] || cargo build --release -p pipeline --quiet
WORK="$(mktemp -d /tmp/cyberlm-generate.XXXXXX)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); model $MODEL; $COUNT $SOURCE logs; outputs in $WORK"
printf '%-40s %9s %8s %10s %12s %s\n' build seconds logs/s "JSON KB/s" "peak RSS MB" "same logs"
first=""
for i in "${!BINS[@]}"; do
  bin="${BINS[$i]}"
  out="$WORK/$i.jsonl"
  /usr/bin/time -f '%e %M' -o "$WORK/$i.time" \
    "$bin" generate -m "$MODEL" --source "$SOURCE" --count "$COUNT" --seed 0 -o "$out" > "$WORK/$i.log" 2>&1
  read -r seconds rss_kb < "$WORK/$i.time"
  bytes=$(wc -c < "$out")
  same="-"
  if [ -z "$first" ]; then first="$out"; elif cmp -s "$first" "$out"; then same=yes; else same=NO; fi
  awk -v b="$bin" -v s="$seconds" -v n="$COUNT" -v by="$bytes" -v r="$rss_kb" -v same="$same" \
    'BEGIN { printf "%-40s %9.1f %8.1f %10.1f %12.0f %s\n", b, s, n / s, by / 1024 / s, r / 1024, same }'
done
