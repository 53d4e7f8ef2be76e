#!/usr/bin/env bash
# Evidence for the GPT detector (issue [4/7]), one command: one simulated organisation of
# 70 people over three stretches of its life (14 benign days to train on, the next full
# week to calibrate on, the week after with the attack scenarios to test, none of which
# the model sees), `small` trained for 2,200 steps, then the same weights calibrated and
# evaluated twice: on the merged stream (each log after its user's logs from all three
# sources, the default) and one source at a time (`--context user-source`). Prints both
# evaluations (detector table, per scenario alerts); figures, charts and an HTML page
# under $OUT/eval and $OUT/eval-per-source. About an hour on 2 cores; asserts nothing.
#
#   bench/detection.sh                     (USERS, PRESET, STEPS, WARMUP, OUT to change)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS="${USERS:-70}"
PRESET="${PRESET:-small}"
STEPS="${STEPS:-2200}"
WARMUP="${WARMUP:-60}"
OUT="${OUT:-out/detection-bench}"

cargo build --release -p pipeline --quiet
BIN=target/release/cyberlm
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
rm -rf "$OUT"
mkdir -p "$OUT"
"$BIN" simulate --users "$USERS" --activity-seed 101 --days 14 --no-attacks --no-travel \
  --out "$OUT/train" > /dev/null
"$BIN" simulate --users "$USERS" --activity-seed 202 --days 7 --start 2026-11-16 \
  --no-attacks --no-travel --out "$OUT/calib" > /dev/null
"$BIN" simulate --users "$USERS" --activity-seed 303 --days 7 --start 2026-11-23 \
  --out "$OUT/test" > /dev/null

SECONDS=0
"$BIN" train "$OUT/train" -o "$OUT/model" --preset "$PRESET" --context 1024 \
  --steps "$STEPS" --batch-size 16 --warmup-steps "$WARMUP" --eval-every 200 \
  --time-budget-s 2700
echo "training: ${SECONDS} s"
# The same weights for the per-source calibration, before either calibration is written.
cp -r "$OUT/model" "$OUT/model-per-source"

for context in user user-source; do
  model="$OUT/model" eval="$OUT/eval"
  if [ "$context" = user-source ]; then
    model="$OUT/model-per-source" eval="$OUT/eval-per-source"
  fi
  SECONDS=0
  "$BIN" calibrate "$OUT/calib" -m "$model" --context "$context"
  "$BIN" eval detection "$OUT/test" -m "$model" --history "$OUT/train" \
    --history "$OUT/calib" -o "$eval" > "$eval.txt"
  echo
  echo "== context $context (calibrate + eval: ${SECONDS} s)"
  cat "$eval.txt"
done
