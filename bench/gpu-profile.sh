#!/usr/bin/env bash
# Where cyberlm's GPU time goes (issue [7/7]): one short command on a GPU host, after
# bench/gpu.sh has said how fast it is.
#
#   CYBERLM_BIN=path/to/cuda/cyberlm bench/gpu-profile.sh [OUT_DIR]   (default gpu-profile)
#
# 1. seed-85m training with burn's attention split into blocks of 256 queries (the
#    default) and unsplit (CYBERLM_QUERY_CHUNK=0), same windows, same steps. Run 2 found
#    unsplit 14% slower to train and 21% to score, but that build always took burn's
#    attention fallback; with autotune, scoring's unsplit causal call may get a flash
#    kernel (training's cannot: burn's autodiff decomposes attention).
# 2. The same run under cubecl's own profiler (every kernel timed, to standard error, by
#    a cubecl.toml in the run's folder), split at bench-model's phase lines (training,
#    scoring, decoding) and summed per kernel name within each phase. A kernel's first
#    launch includes its compilation (NVRTC, 10-30 ms), so a phase full of slow first
#    launches is compiling, not computing.
# 3. Decoding on `tiny`: the key/value cache grown by buckets of 256 positions (the
#    default since run 2), grown a position at a time as before (CYBERLM_KV_BUCKET=1),
#    and buckets with cubecl's autotuning at `minimal`: whether fixed shapes remove the
#    tuning and compiling that run 2 found decoding spends its time on.
# Prints a summary last; each run's output is in OUT_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu-profile}"
BIN="$(realpath "${CYBERLM_BIN:-target/release/cyberlm}")"
PY="${PYTHON:-python3}"
STEPS="${STEPS:-5}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d /tmp/cyberlm-gpu-profile.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
say() { echo "[$(date +%T)] $*"; }

source bench/cuda-env.sh
"$BIN" simulate --users 20 --days 3 --out "$WORK/logs" > /dev/null 2>&1 || { say "simulate failed"; exit 1; }

bench() { # NAME LIMIT_S PRESET STEPS [ENV=VALUE...]
  local name=$1 limit=$2 preset=$3 steps=$4; shift 4
  say "$name"
  env "$@" timeout "$limit" "$BIN" bench-model "$WORK/logs" --device cuda --preset "$preset" \
    --steps "$steps" > "$OUT/$name.log" 2>&1 || say "$name failed: $(tail -2 "$OUT/$name.log")"
}
bench chunk-256 120 seed-85m "$STEPS"
bench chunk-none 120 seed-85m "$STEPS" CYBERLM_QUERY_CHUNK=0
mkdir -p "$WORK/profiled"
printf '[profiling.logger]\nlevel = "basic"\nstderr = true\n' > "$WORK/profiled/cubecl.toml"
(cd "$WORK/profiled" && bench profiled 150 seed-85m 2)
bench tiny-kv-bucket-256 60 tiny 5
bench tiny-kv-bucket-1 60 tiny 5 CYBERLM_KV_BUCKET=1
bench tiny-kv-bucket-256-autotune-minimal 60 tiny 5 CUBECL_AUTOTUNE_LEVEL=minimal
"$PY" - "$OUT" "$OUT/profiled.log" <<'PY'
import collections, glob, json, os, re, sys
out, log = sys.argv[1], sys.argv[2]
print("\nrun                                  train tok/s  score tok/s  gen/s KV  gen/s none")
for path in sorted(glob.glob(f"{out}/*.log")):
    name = os.path.basename(path)[:-4]
    lines = [l for l in open(path, errors="replace") if l.startswith("{")]
    if not lines:
        continue
    try:
        r = json.loads(lines[-1])
    except ValueError:
        continue
    if "train_tokens_per_s" not in r:
        continue
    print(f"{name:36} {r['train_tokens_per_s']:12.0f} {r['score_tokens_per_s']:12.0f} "
          f"{r['generate_logs_per_s_cached']:9.2f} {r['generate_logs_per_s_uncached']:10.2f}")
units = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
timed = re.compile(r"^\|\s*([0-9.]+)(ns|µs|us|ms|s)\s*\|\s*(.+)$")
marker = re.compile(r"bench-model phase: ([\w-]+)")
phases = collections.defaultdict(lambda: (collections.Counter(), collections.Counter()))
slow = collections.Counter()
phase = "start-up"
try:
    lines = open(log, errors="replace")
except OSError:
    print("no profile"); sys.exit()
for line in lines:
    m = marker.search(line)
    if m:
        phase = m.group(1)
        continue
    m = timed.match(line)
    if m:
        name = re.sub(r"\s+", " ", m.group(3))[:100]
        seconds = float(m.group(1)) * units[m.group(2)]
        total, count = phases[phase]
        total[name] += seconds
        count[name] += 1
        slow[phase] += seconds > 5e-3
print("\ncubecl's profile of seed-85m (2 timed steps), per phase of bench-model:")
for phase, (total, count) in phases.items():
    all_s = sum(total.values())
    print(f"\n{phase}: {sum(count.values())} launches, {all_s:.3f} s of kernel time, "
          f"{slow[phase]} launches over 5 ms")
    for name, seconds in total.most_common(8):
        print(f"  {seconds:8.3f} s {100 * seconds / max(all_s, 1e-12):5.1f}% {count[name]:7}  {name}")
PY
