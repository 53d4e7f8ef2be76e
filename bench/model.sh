#!/usr/bin/env bash
# Benchmark: cyberlm's GPT (burn, flex CPU backend) against the same model in PyTorch, on
# the same machine, the same windows and the same batch, for each preset given.
#
#   bench/model.sh [PRESET...]            (default: tiny small)
#   BENCH_ROUNDS=5 bench/model.sh tiny    (alternate the two sides 5 times; medians)
#
# Simulates a small corpus, has cyberlm export the exact windows it trains on and the
# weights it starts from, times training, scoring and decoding (with and without the KV
# cache) in cyberlm and in PyTorch eager started from those weights, and prints one table
# with cyberlm / PyTorch ratios and how far apart the two sides' losses came. On a noisy
# machine (a shared VM's figures move by up to 50% from run to run) set BENCH_ROUNDS: the
# two sides then alternate that many times, and the table gives each figure's median and
# every round's ratio, each taken within one round. PyTorch comes from
# PyPI into a cached virtual environment; PyPI's Linux wheel drags in the CUDA libraries
# (about 4 GB) even though only the CPU is used. Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESETS=("${@:-tiny small}")
read -r -a PRESETS <<< "${PRESETS[*]}"
STEPS="${BENCH_STEPS:-20}"
ROUNDS="${BENCH_ROUNDS:-1}"
if ! [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "BENCH_ROUNDS must be a whole number of 1 or more, not '$ROUNDS'" >&2
  exit 2
fi
WORK="$(mktemp -d /tmp/cyberlm-model-bench.XXXXXX)"
VENV="${CYBERLM_TORCH_VENV:-$HOME/.cache/cyberlm/torch-venv}"
trap 'rm -rf "$WORK"' EXIT

cargo build --release -p pipeline --quiet
BIN=target/release/cyberlm
if ! "$VENV/bin/python" -c "import torch, numpy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch numpy
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$BIN" simulate --users 20 --days 3 --out "$WORK/logs" > /dev/null 2>&1

for round in $(seq 1 "$ROUNDS"); do
  for preset in "${PRESETS[@]}"; do
    # The windows and weights are deterministic: the first round exports them for all.
    export=()
    if [ "$round" = 1 ]; then
      export=(--export-windows "$WORK/$preset.bin" --export-init "$WORK/$preset.safetensors")
    fi
    "$BIN" bench-model "$WORK/logs" --preset "$preset" --steps "$STEPS" "${export[@]}" \
      > "$WORK/$preset.$round.cyberlm.json"
    "$VENV/bin/python" bench/gpt_reference.py --preset "$preset" --steps "$STEPS" \
      --windows "$WORK/$preset.bin" --init "$WORK/$preset.safetensors" \
      > "$WORK/$preset.$round.torch.json"
  done
done

python3 - "$WORK" "$ROUNDS" "${PRESETS[@]}" <<'PY'
import json, statistics, sys
work, rounds, presets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows = [("train tok/s", "train_tokens_per_s"), ("score tok/s", "score_tokens_per_s"),
        ("gen logs/s (KV cache)", "generate_logs_per_s_cached"),
        ("gen logs/s (no cache)", "generate_logs_per_s_uncached"), ("peak RSS MiB", "peak_rss_mib")]
median = statistics.median
header = f"{'preset':8} {'figure':24} {'cyberlm':>12} {'pytorch':>12} {'ratio':>7}"
print(header + ("   ratio in each round" if rounds > 1 else ""))
for p in presets:
    runs = [(json.load(open(f"{work}/{p}.{r}.cyberlm.json")), json.load(open(f"{work}/{p}.{r}.torch.json")))
            for r in range(1, rounds + 1)]
    ours, ref = runs[-1]  # the losses are the same in every round
    for label, key in rows:
        # With several rounds: the median of each side and of the rounds' ratios.
        ratios = [o[key] / t[key] for o, t in runs]
        line = (f"{p:8} {label:24} {median(o[key] for o, _ in runs):12.1f}"
                f" {median(t[key] for _, t in runs):12.1f} {median(ratios):7.2f}")
        print(line + ("   " + " ".join(f"{r:.2f}" for r in ratios) if rounds > 1 else ""))
    speed_up = lambda d: d["generate_logs_per_s_cached"] / d["generate_logs_per_s_uncached"]
    print(f"{p:8} {'KV cache speed-up':24} {median(speed_up(o) for o, _ in runs):12.1f}"
          f" {median(speed_up(t) for _, t in runs):12.1f}")
    print(f"{p:8} {'loss after steps':24} {ours['final_loss']:12.3f} {ref['final_loss']:12.3f}")
    # Both started from cyberlm's initial weights: with no dropout (tiny, small) the losses
    # should agree step by step up to float rounding (1e-7 measured, 2026-12-07).
    drift = max(abs(a - b) / abs(b) for o, t in runs for a, b in zip(o["losses"], t["losses"]))
    print(f"{p:8} {'loss, most apart':24} {drift:12.1e}   relative, over {len(ref['losses'])} steps from the same weights")
print(f"torch {ref['torch']} with {ref['threads']} threads")
PY
