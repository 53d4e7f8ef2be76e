#!/usr/bin/env bash
# GPU benchmark and checks (issue [7/7]), one command on a GPU host that has the NVIDIA
# driver, NVRTC and PyTorch but no Rust toolchain:
#
#   CYBERLM_BIN=path/to/cuda/cyberlm bench/gpu.sh [OUT_DIR]      (default gpu-bench)
#
# In one run on one GPU it measures the chip's matrix-product ceilings (PyTorch), checks
# that cyberlm's GPU scores equal its CPU scores (a trained model, given as
# PARITY_MODEL and PARITY_LOGS), then for each preset trains, scores and decodes with
# cyberlm and with the PyTorch reference (bench/gpt_reference.py: eager float32, the
# same arithmetic as cyberlm; eager TF32 and bf16 autocast; torch.compile; cyberlm also
# in pure bf16 and mixed precision, `--float mixed`, the like of autocast) on the same
# windows and batch, from the same initial weights. It prints one table last: tokens/s,
# MFU against the measured bf16 peak, the loss and how far it strayed from PyTorch eager
# f32's, peak GPU memory, scoring logs/s and decoding logs/s, and the seed's Table 2
# workload (seed-120m, 39M characters, one epoch) projected from the training rate.
# Every stage has its own time limit and a failed stage does not stop the others; the
# raw JSON of each run is in OUT_DIR/runs.jsonl and each run's output in OUT_DIR/*.log.
#
# Knobs: PRESETS ("seed-85m small seed-120m"; `tiny` too for a dry run), STEPS (10, timed
# steps per run), PARITY_CPU_SCORES (the CPU's scores, computed ahead elsewhere), DEVICE
# (cuda; `cpu` dry-runs the script on a machine without a GPU), PYTHON (python3),
# BATCH_<preset> (windows per batch: 16, 16, 1 by default; seed-120m's context of 7000
# held one window while burn's autodiff kept every score matrix; since its patched
# attention backward (vendor/README.md) it may hold more, for cyberlm and PyTorch alike).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu-bench}"
BIN="${CYBERLM_BIN:-target/release/cyberlm}"
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
STEPS="${STEPS:-10}"
read -r -a PRESETS <<< "${PRESETS:-seed-85m small seed-120m}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d /tmp/cyberlm-gpu-bench.XXXXXX)"
RUNS="$OUT/runs.jsonl"
: > "$RUNS"
trap '[ -n "${SAMPLER:-}" ] && kill "$SAMPLER" 2>/dev/null; rm -rf "$WORK"' EXIT
say() { echo "[$(date +%T)] $*"; }

# The CUDA libraries cyberlm loads at run time, and the headers NVRTC compiles against.
if [ "$DEVICE" != cpu ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  source bench/cuda-env.sh
  say "NVRTC from ${LD_LIBRARY_PATH:-the system paths}; headers from ${CUDA_PATH:-/usr/local/cuda}"
fi

# Peak GPU memory of one command: nvidia-smi sampled every 100 ms, less what was in use
# before it started (the CUDA context counts: both sides pay it).
gpu_memory_start() {
  GPU_BASE="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$WORK/memory" 2>/dev/null &
  SAMPLER=$!
}
gpu_memory_stop() {
  kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null
  sort -n "$WORK/memory" 2>/dev/null | tail -1 | awk -v base="${GPU_BASE:-0}" '{print $1 - base}'
}

# run NAME LIMIT_S COMMAND...: runs it with a limit, keeps its output in OUT/NAME.log, and
# appends its JSON line (the last line of output that is JSON) to runs.jsonl with the
# run's name, wall time and peak GPU memory.
run() {
  local name=$1 limit=$2; shift 2
  say "$name: $*"
  local started=$SECONDS
  [ "$DEVICE" != cpu ] && gpu_memory_start
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local status=$?
  local memory=0
  [ "$DEVICE" != cpu ] && memory="$(gpu_memory_stop)"
  local result
  result="$(grep '^{' "$OUT/$name.log" | tail -1)"
  [ -z "$result" ] && result='{}'
  "$PY" -c 'import json, sys
r = json.loads(sys.argv[1]); r.update(run=sys.argv[2], exit=int(sys.argv[3]), wall_s=int(sys.argv[4]), peak_gpu_mib=float(sys.argv[5] or 0))
print(json.dumps(r))' "$result" "$name" "$status" "$((SECONDS - started))" "$memory" >> "$RUNS"
  if [ "$status" -ne 0 ]; then
    say "$name FAILED (exit $status$([ "$status" -eq 124 ] && echo ', time limit')); its last lines:"
    tail -5 "$OUT/$name.log"
  fi
  return 0
}

# 1. The chip's ceilings, measured: dense matrix products on random data.
run ceilings 120 "$PY" - "$DEVICE" <<'PY'
import json, sys, torch
device = sys.argv[1]
if device == "cpu":
    print(json.dumps({"bf16_tflops": 0, "tf32_tflops": 0, "f32_tflops": 0})); sys.exit()
def rate(dtype, tf32, n=8192, reps=20):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a, b = (torch.randn(n, n, device="cuda", dtype=dtype) for _ in range(2))
    for _ in range(3): a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps): a @ b
    end.record(); torch.cuda.synchronize()
    return 2 * n**3 * reps / (start.elapsed_time(end) / 1e3) / 1e12
print(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
    "bf16_tflops": rate(torch.bfloat16, False), "tf32_tflops": rate(torch.float32, True),
    "f32_tflops": rate(torch.float32, False)}))
PY

# 2. Logs to train on: the simulator, a small enterprise over three days.
"$BIN" simulate --users 20 --days 3 --out "$WORK/logs" > "$OUT/simulate.log" 2>&1 \
  || { say "simulate failed"; tail -5 "$OUT/simulate.log"; exit 1; }

# 3. The device starts (a short training run of `tiny`); if it cannot, say what the
# machine offers and stop, so a broken build costs a minute, not the whole run.
run probe 180 "$BIN" bench-model "$WORK/logs" --device "$DEVICE" --preset tiny --steps 2
if ! tail -1 "$RUNS" | grep -q '"exit": 0'; then
  say "cyberlm could not train on $DEVICE; what the machine offers:"
  ldconfig -p | grep -E 'libcuda|libnvrtc'
  ls -d /usr/local/cuda* 2>/dev/null; find / -xdev -name 'libnvrtc*' 2>/dev/null | head
  head -40 "$OUT/probe.log"
  exit 1
fi

# 4. The runs, the ones the issue's targets need first (float32 on both sides, scoring
# parity, torch.compile), then the other precisions, so that a run cut short by the
# caller's time limit loses the least. Each preset's first cyberlm run writes the windows
# the PyTorch runs train on and the weights they all start from.
batch_of() {
  local var="BATCH_${1//-/_}" default=16
  [ "$1" = seed-120m ] && default=1
  echo "${!var:-$default}"
}
cyberlm() { # PRESET FLOAT LIMIT_S
  local export=()
  [ -e "$WORK/$1.bin" ] || export=(--export-windows "$WORK/$1.bin" --export-init "$WORK/$1.safetensors")
  run "$1-cyberlm-$2" "$3" "$BIN" bench-model "$WORK/logs" --device "$DEVICE" --preset "$1" \
    --steps "$STEPS" --batch-size "$(batch_of "$1")" --float "$2" "${export[@]}"
}
torch() { # PRESET PRECISION LIMIT_S [--compile]
  [ -s "$WORK/$1.bin" ] || return 0
  # cyberlm's initial weights, if its run got as far as writing them (else PyTorch draws
  # its own, and the loss gap is not a check of the arithmetic).
  local init=(); [ -s "$WORK/$1.safetensors" ] && init=(--init "$WORK/$1.safetensors")
  local name="$1-torch-$([ "${4:-}" = --compile ] && echo compile || echo eager)-$2"
  run "$name" "$3" "$PY" bench/gpt_reference.py --preset "$1" --windows "$WORK/$1.bin" \
    --steps "$STEPS" --batch "$(batch_of "$1")" --device "$DEVICE" --precision "$2" \
    "${init[@]}" ${4:+"$4"}
}
# A trained model's scores on the device against the CPU's (PARITY_CPU_SCORES, or
# computed here), log by log; also `cyberlm score`'s end-to-end rate on the device.
parity() {
  [ -n "${PARITY_MODEL:-}" ] || return 0
  local cpu="${PARITY_CPU_SCORES:-$WORK/cpu.jsonl}"
  [ -s "$cpu" ] || run parity-cpu 300 "$BIN" score "$PARITY_LOGS" --model "$PARITY_MODEL" --device cpu -o "$cpu"
  run parity-gpu 180 "$BIN" score "$PARITY_LOGS" --model "$PARITY_MODEL" --device "$DEVICE" -o "$WORK/gpu.jsonl"
  "$PY" - "$cpu" "$WORK/gpu.jsonl" "$RUNS" <<'PY'
import json, sys
def read(path):
    try:
        return {r["event_id"]: r["deviation"] for r in map(json.loads, open(path))}
    except OSError:
        return {}
cpu, gpu = read(sys.argv[1]), read(sys.argv[2])
shared = [k for k in cpu if k in gpu]
worst = max((abs(cpu[k] - gpu[k]) / max(abs(cpu[k]), 1e-6) for k in shared), default=float("nan"))
result = {"run": "parity", "logs_cpu": len(cpu), "logs_gpu": len(gpu), "logs_compared": len(shared),
          "max_relative_difference": worst}
print(json.dumps(result))
open(sys.argv[3], "a").write(json.dumps(result) + "\n")
PY
}
has() { [[ " ${PRESETS[*]} " == *" $1 "* ]]; }
has seed-85m && { cyberlm seed-85m f32 240; torch seed-85m f32 120; }
parity
# Mixed precision (f32 weights, bf16 products): the like of PyTorch's bf16 autocast.
has seed-85m && cyberlm seed-85m mixed 180
has small && { cyberlm small f32 120; torch small f32 90; }
has seed-120m && { cyberlm seed-120m f32 240; torch seed-120m f32 120; }
has seed-85m && torch seed-85m f32 180 --compile
for preset in "${PRESETS[@]}"; do
  [ "$preset" = small ] || [ "$preset" = tiny ] && continue
  cyberlm "$preset" bf16 180
  torch "$preset" bf16 120
done
has seed-85m && torch seed-85m tf32 120
has tiny && { cyberlm tiny f32 60; torch tiny f32 60; cyberlm tiny bf16 60; torch tiny bf16 60; }

# 5. One table.
"$PY" - "$RUNS" <<'PY'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
ceilings = next((r for r in runs if r["run"] == "ceilings"), {})
peak = ceilings.get("bf16_tflops") or float("nan")
SHAPES = {"tiny": (2, 64, 256), "small": (4, 128, 1024), "seed-85m": (12, 768, 2048), "seed-120m": (12, 896, 7000)}
def flops_per_token(preset):
    # Training: 6 per parameter (blocks and head) plus attention's 12 * layers * width *
    # context (nanoGPT's estimate, which counts the whole score matrix).
    layers, width, context = SHAPES[preset]
    parameters = layers * 12 * width * width + width * 259
    return 6 * parameters + 12 * layers * width * context
print(f"\nGPU: {ceilings.get('gpu', '?')}, torch {ceilings.get('torch', '?')}; measured peaks: "
      f"bf16 {ceilings.get('bf16_tflops', 0):.0f}, TF32 {ceilings.get('tf32_tflops', 0):.0f}, "
      f"f32 {ceilings.get('f32_tflops', 0):.0f} TFLOP/s")
parity = next((r for r in runs if r["run"] == "parity"), None)
if parity:
    wall = next((r["wall_s"] for r in runs if r["run"] == "parity-gpu"), 0)
    print(f"parity: {parity['logs_compared']} logs scored on both, largest relative difference "
          f"of a log's deviation {parity['max_relative_difference']:.2e}; `cyberlm score` on the "
          f"device took {wall} s for {parity['logs_gpu']} logs, start-up and compilation included")
# Every run of a preset starts from the same weights, so its losses can be held against
# PyTorch eager f32's step by step: the largest relative gap over the steps. Without
# dropout (tiny, small) f32 should agree to rounding (1e-7 on the CPU); the seed presets'
# dropout draws different masks on each side.
def loss_gap(r, eager):
    pairs = list(zip(r.get("losses", []), eager.get("losses", [])))
    return max((abs(a - b) / abs(b) for a, b in pairs), default=float("nan"))
head = f"{'run':28} {'exit':>4} {'train tok/s':>12} {'MFU%':>6} {'vs eager':>8} {'loss':>6} {'loss gap':>8} {'GPU MiB':>8} {'score tok/s':>12} {'score logs/s':>12} {'gen/s KV':>9} {'gen/s none':>10}"
print(head)
for r in runs:
    preset = r.get("preset")
    if preset not in SHAPES or r["run"] == "probe":
        continue
    eager = next((e for e in runs if e["run"] == f"{preset}-torch-eager-f32"), {})
    rate = r.get("train_tokens_per_s", 0)
    mfu = 100 * rate * flops_per_token(preset) / (peak * 1e12) if rate else 0
    ratio = rate / eager["train_tokens_per_s"] if eager.get("train_tokens_per_s") else float("nan")
    print(f"{r['run']:28} {r['exit']:4} {rate:12.0f} {mfu:6.1f} {ratio:8.2f} {r.get('final_loss', float('nan')):6.3f} {loss_gap(r, eager):8.1e} "
          f"{r.get('peak_gpu_mib', 0):8.0f} {r.get('score_tokens_per_s', 0):12.0f} {r.get('score_logs_per_s', 0):12.0f} "
          f"{r.get('generate_logs_per_s_cached', 0):9.2f} {r.get('generate_logs_per_s_uncached', 0):10.2f}")
for r in runs:
    if r.get("preset") == "seed-120m" and r.get("train_tokens_per_s"):
        print(f"seed Table 2 (seed-120m, 39M characters, one epoch) at {r['run']}'s rate: "
              f"{39e6 / r['train_tokens_per_s'] / 60:.1f} min")
PY
