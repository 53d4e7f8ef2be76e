#!/usr/bin/env bash
# Benchmark: the GPT detector in the streaming pipeline, on the CPU, through a real Kafka
# broker on this machine; and scoring logs/s per core in isolation.
#
#   bench/kafka-gpt.sh [PRESET...]        (default: tiny small)
#   STEPS=300 USERS=20 DAYS=3 bench/kafka-gpt.sh tiny
#
# For each preset: trains a model of that shape (context 1024) for STEPS steps on 7 benign
# days of a simulated organisation (throughput does not depend on how well it is trained,
# only the number of alerts does, and calibration sets that), calibrates it on 2 further
# benign days, then
#   - scoring in isolation: `cyberlm score` over CALIBRATION logs on one core
#     (taskset, one rayon thread) and on all cores: logs/s;
#   - `bench/kafka-detect.sh USERS DAYS` with the model as `[gpt]` beside the Sigma rules:
#     a backlog of USERS x DAYS of the same organisation (with its attacks) through
#     replay -> detect -> alerts (logs/s, peak RSS), then replay at half that rate
#     (replay->verdict p50/p99, cores used).
# Prints figures only; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESETS="${*:-tiny small}"
STEPS="${STEPS:-300}"; USERS="${USERS:-20}"; DAYS="${DAYS:-3}"
WORK="$(mktemp -d /tmp/cyberlm-gpt-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

cargo build --release -p pipeline --quiet
BIN="$PWD/target/release/cyberlm"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

# The organisation kafka-detect.sh simulates (seed 7, from 2026-11-02), living earlier days.
$BIN simulate --users "$USERS" --days 7 --start 2026-10-19 --activity-seed 101 --no-attacks --no-travel --out "$WORK/train" >/dev/null 2>&1
$BIN simulate --users "$USERS" --days 2 --start 2026-10-26 --activity-seed 202 --no-attacks --no-travel --out "$WORK/calib" >/dev/null 2>&1
CALIBRATION=$(cat "$WORK"/calib/{azure,confluence,cloudtrail}.jsonl | wc -l)

for PRESET in $PRESETS; do
  MODEL="$WORK/model-$PRESET"
  $BIN train "$WORK/train" -o "$MODEL" --preset "$PRESET" --context 1024 --steps "$STEPS" \
    --batch-size 8 --warmup-steps 20 --eval-every "$STEPS" 2>/dev/null | tail -n 2 | head -n 1
  START=$(date +%s.%N)
  $BIN calibrate "$WORK/calib" -m "$MODEL" >/dev/null 2>&1
  SECONDS_CALIBRATE=$(echo "$(date +%s.%N) - $START" | bc -l)
  printf "%s: calibrated on %d logs in %.1f s (%.1f logs/s, all cores)\n" "$PRESET" "$CALIBRATION" "$SECONDS_CALIBRATE" "$(echo "$CALIBRATION / $SECONDS_CALIBRATE" | bc -l)"
  for CORES in 1 "$(nproc)"; do
    START=$(date +%s.%N)
    RAYON_NUM_THREADS=$CORES taskset -c "0-$((CORES - 1))" $BIN score "$WORK/calib" -m "$MODEL" -o "$WORK/scores-$CORES.jsonl" >/dev/null 2>&1
    ELAPSED=$(echo "$(date +%s.%N) - $START" | bc -l)
    printf "%s: score in isolation on %d core(s): %d logs in %.1f s = %.1f logs/s\n" "$PRESET" "$CORES" "$CALIBRATION" "$ELAPSED" "$(echo "$CALIBRATION / $ELAPSED" | bc -l)"
  done
  echo "$PRESET: through Kafka with the GPT detector beside the Sigma rules"
  CYBERLM_BINS="$BIN" BENCH_EXTRA_TOML=$'[gpt]\nmodel = "'"$MODEL"$'"' bench/kafka-detect.sh "$USERS" "$DAYS" | grep -v '^machine:'
done
