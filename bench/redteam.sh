#!/usr/bin/env bash
# Do red-team logs fire the detections of their technique? For each technique (and the
# benign case), generates logs with the model's value combinations, with `--detected`
# (the steps its rules fire on, for models whose headers say so), with `--rule-guided`
# (each log held to what one of the technique's rules asks, the model writing the rest)
# and with `--independent-values` (each listed value from its whole list), judges them with
# `cyberlm eval generation --technique`, then prints one table: schema validity, the
# share firing a Sigma rule of the technique against the real logs of it, the share
# firing any rule against real benign logs, fields that agree, time.
#
#   bench/redteam.sh MODEL REAL LABELS TAGGED [COUNT]
#
#   MODEL    a model folder `cyberlm train --labels ... --tagged ...` wrote
#   REAL     the logs it trained on (a folder)
#   LABELS   the simulator's labels.jsonl
#   TAGGED   the recorded attacks (Stratus detonation JSONL)
#   COUNT    logs per case (default 32)
#
# Cases: CYBERLM_TECHNIQUES, `source:technique` words, `-` for benign (`generate --benign`;
# default below). Modes: CYBERLM_REDTEAM_MODES (default `combinations detected
# independent`; also `rule-guided`; `detected` and `rule-guided` are skipped for benign
# cases). CYBERLM_CONFIG: a config file both `generate` and `eval generation` read (its
# `[pii]` section for a model trained on pseudonymised logs; the key from
# CYBERLM_PII_KEY as for training).
# Run from the repository root (the Sigma rules' default path is relative to it).
# Prints figures; asserts nothing. Outputs stay in the folder it names.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ]; then
  sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
MODEL="$1"; REAL="$2"; LABELS="$3"; TAGGED="$4"; COUNT="${5:-32}"
read -r -a CASES <<< "${CYBERLM_TECHNIQUES:-cloudtrail:T1562.008 cloudtrail:T1098.001 cloudtrail:T1580 azure:T1110.003 azure:T1078.004 cloudtrail:- azure:-}"
read -r -a MODES <<< "${CYBERLM_REDTEAM_MODES:-combinations detected independent}"
BIN="${CYBERLM_BIN:-target/release/cyberlm}"
CONFIG=()
[ -n "${CYBERLM_CONFIG:-}" ] && CONFIG=(--config "$CYBERLM_CONFIG")
[ -x "$BIN" ] || cargo build --release -p pipeline --quiet
WORK="${CYBERLM_REDTEAM_OUT:-$(mktemp -d /tmp/cyberlm-redteam.XXXXXX)}"
mkdir -p "$WORK"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); model $MODEL; $COUNT logs per case; outputs in $WORK"

for case in "${CASES[@]}"; do
  source="${case%%:*}"; technique="${case#*:}"
  for mode in "${MODES[@]}"; do
    [ "$technique" = "-" ] && [ "$mode" != combinations ] && [ "$mode" != independent ] && continue
    run="$WORK/$source-$technique-$mode"
    mkdir -p "$run"
    prompt=(--source "$source"); judge=(--source "$source")
    if [ "$technique" != "-" ]; then prompt+=(--technique "$technique"); judge=(--technique "$technique"); else prompt+=(--benign); fi
    flags=()
    [ "$mode" = independent ] && flags=(--independent-values)
    [ "$mode" = detected ] && flags=(--detected)
    [ "$mode" = rule-guided ] && flags=(--rule-guided)
    start=$SECONDS
    # A technique no rule-guided log can be written for fails generate; its row says so.
    "$BIN" generate -m "$MODEL" "${prompt[@]}" "${flags[@]}" "${CONFIG[@]}" --count "$COUNT" \
      -o "$run/generated.jsonl" > "$run/generate.log" 2>&1 || { echo "$case $mode: generate failed (see $run/generate.log)"; continue; }
    echo $((SECONDS - start)) > "$run/generate_seconds"
    "$BIN" eval generation "$run/generated.jsonl" "${judge[@]}" "${CONFIG[@]}" --real "$REAL" \
      --labels "$LABELS" --tagged "$TAGGED" -o "$run/eval" > "$run/eval.log" 2>&1
  done
done

python3 - "$WORK" "${MODES[*]}" "${CASES[@]}" <<'PY'
import json, os, sys
work, modes, cases = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
print(f"{'technique':>10} {'source':>10} {'values':>12} {'schema valid':>12} {'fire its rule':>13} "
      f"{'(real)':>12} {'fire any rule':>13} {'(real benign)':>13} {'fields agree':>12} {'seconds':>7}")
for case in cases:
    source, technique = case.split(":", 1)
    for mode in modes:
        if technique == "-" and mode not in ("combinations", "independent"):
            continue
        run = os.path.join(work, f"{source}-{technique}-{mode}")
        figures = os.path.join(run, "eval", "figures.json")
        if not os.path.exists(figures):
            print(f"{case} {mode}: no figures (see {run})")
            continue
        figures = json.load(open(figures))
        row = next(s for s in figures["sources"] if s["source"] == source)
        rules = row.get("rules") or {}
        generated = rules.get("generated") or {}
        real = rules.get("real_technique") or {}
        benign = rules.get("real_benign") or {}
        own = generated.get("technique_rule")
        real_own = real.get("technique_rule")
        seconds = float(open(os.path.join(run, "generate_seconds")).read())
        fmt = lambda value: "–" if value is None else f"{value:.1%}"
        print(f"{technique:>10} {source:>10} {mode:>12} {row['schema_valid']:>12.1%} {fmt(own):>13} "
              f"{fmt(real_own) + ' of ' + str(real.get('logs', 0)) if real_own is not None else '–':>12} "
              f"{fmt(generated.get('any_rule')):>13} {fmt(benign.get('any_rule')):>13} "
              f"{row['agreement']['agreeing']:>12.1%} {seconds:>7.0f}")
PY
