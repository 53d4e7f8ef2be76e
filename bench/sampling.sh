#!/usr/bin/env bash
# Which sampling settings make the most faithful logs? For each temperature and top-p of
# the grid, generates logs for one source and judges them with `cyberlm eval generation`
# against the real logs, then prints one table (schema validity, median and worst TVD of
# the categorical fields against the held-out reference, fields that agree, the share
# firing a Sigma rule against the real logs', exact copies, ROUGE-1, time).
#
#   bench/sampling.sh MODEL SOURCE REAL HOLDOUT [COUNT]
#
#   MODEL    a model folder `cyberlm train` wrote
#   SOURCE   azure, confluence or cloudtrail
#   REAL     the logs the model trained on (a folder or file)
#   HOLDOUT  real logs the model never saw (the sampling-noise floor)
#   COUNT    logs per setting (default 64)
#
# Grid: CYBERLM_TEMPERATURES (default "0.7 0.85 1.0") × CYBERLM_TOP_PS (default "0.9 1.0").
# Prints figures; asserts nothing. Outputs stay in the folder it names.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
MODEL="$1"; SOURCE="$2"; REAL="$3"; HOLDOUT="$4"; COUNT="${5:-64}"
read -r -a TEMPERATURES <<< "${CYBERLM_TEMPERATURES:-0.7 0.85 1.0}"
read -r -a TOP_PS <<< "${CYBERLM_TOP_PS:-0.9 1.0}"
BIN="${CYBERLM_BIN:-target/release/cyberlm}"
[ -x "$BIN" ] || cargo build --release -p pipeline --quiet
WORK="${CYBERLM_SWEEP_OUT:-$(mktemp -d /tmp/cyberlm-sampling.XXXXXX)}"
mkdir -p "$WORK"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); model $MODEL; $COUNT $SOURCE logs per setting; outputs in $WORK"

for temperature in "${TEMPERATURES[@]}"; do
  for top_p in "${TOP_PS[@]}"; do
    run="$WORK/t$temperature-p$top_p"
    mkdir -p "$run"
    start=$SECONDS
    "$BIN" generate -m "$MODEL" --source "$SOURCE" --count "$COUNT" \
      --temperature "$temperature" --top-p "$top_p" -o "$run/generated.jsonl" > "$run/generate.log" 2>&1
    echo $((SECONDS - start)) > "$run/generate_seconds"
    "$BIN" eval generation "$run/generated.jsonl" --source "$SOURCE" --real "$REAL" \
      --holdout "$HOLDOUT" -o "$run/eval" > "$run/eval.log" 2>&1
  done
done

python3 - "$WORK" <<'PY'
import json, os, statistics, sys
work = sys.argv[1]
print(f"{'temperature':>11} {'top-p':>5} {'schema valid':>12} {'median TVD':>10} {'(reference)':>11} "
      f"{'worst TVD':>9} {'fields ≤ 0.05':>13} {'agree':>6} {'Sigma (real)':>14} {'exact copies':>12} "
      f"{'ROUGE-1':>7} {'seconds':>7}")
for run in sorted(os.listdir(work)):
    figures = os.path.join(work, run, "eval", "figures.json")
    if not os.path.exists(figures):
        print(f"{run}: no figures (see {os.path.join(work, run)})")
        continue
    source = json.load(open(figures))["sources"][0]
    tvds = [f["tvd"] for f in source["fields"]]
    references = [f["reference_tvd"] for f in source["fields"] if f["reference_tvd"] is not None]
    temperature, top_p = run[1:].split("-p")
    seconds = float(open(os.path.join(work, run, "generate_seconds")).read())
    agreement = source.get("agreement")
    agree = f"{agreement['agreeing']:.1%}" if agreement else "-"
    rules = source.get("rules") or {}
    fired, real = rules.get("generated", {}).get("any_rule"), (rules.get("real_benign") or {}).get("any_rule")
    sigma = f"{fired:.1%} ({real:.1%})" if fired is not None and real is not None else "-"
    print(f"{temperature:>11} {top_p:>5} {source['schema_valid']:>12.1%} {statistics.median(tvds):>10.3f} "
          f"{statistics.median(references) if references else float('nan'):>11.3f} {max(tvds):>9.3f} "
          f"{source['fields_within_target']:>6}/{len(tvds):<6} {agree:>6} {sigma:>14} "
          f"{source['memorisation']['exact_copies']:>12.1%} "
          f"{source['memorisation']['rouge1']['median']:>7.3f} {seconds:>7.0f}")
PY
