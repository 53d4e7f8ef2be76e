#!/usr/bin/env bash
# Benchmark: replay -> detect (Sigma) -> alerts through a real Kafka broker on this machine.
#
#   bench/kafka-detect.sh [USERS] [DAYS]      (default 3000 users x 14 days, about 1M logs)
#   CYBERLM_BINS="old/cyberlm new/cyberlm" bench/kafka-detect.sh ...   (compare builds)
#   LATENCY_RATE="7000 10000" bench/kafka-detect.sh ...   (phase 2 at these rates, not half of phase 1's)
#   BENCH_EXTRA_TOML=$'[stream]\nmax_drift_ms = 60000' bench/kafka-detect.sh ...   (appended to detect's config)
#
# Phase 1 (backlog): the whole corpus is replayed unpaced into the source topics first,
# then one `cyberlm detect --kafka` works through it; reports logs/s and peak resident
# memory of detect. Phase 2 (latency): a fresh detect on fresh topics while replay sends
# at half the phase-1 rate for about 30 s; reports replay->verdict latency p50/p99 from
# detect's Prometheus summary, and the CPU that detect, the broker and replay each used
# meanwhile (they share this machine's cores). Prints figures only; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS="${1:-3000}"; DAYS="${2:-14}"
PORT="${BENCH_KAFKA_PORT:-29092}"; METRICS=127.0.0.1:29464
WORK="$(mktemp -d /tmp/cyberlm-bench.XXXXXX)"
BIN="${CYBERLM_BINS:-target/release/cyberlm}"; BIN="${BIN%% *}"
cleanup() { pkill -f "detect --kafka --config $WORK" 2>/dev/null || true; scripts/kafka stop "$WORK/kafka" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

if [ -z "${CYBERLM_BINS:-}" ]; then cargo build --release -p pipeline --quiet; fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
scripts/kafka start "$WORK/kafka" "$PORT" >/dev/null

config() { # PREFIX
  cat > "$WORK/$1.toml" <<TOML
[sigma]
rules = "rules/sigma/rules"
[sigma.overrides.aws_sts_assumerole_misuse]
enabled = false
[kafka]
bootstrap_servers = "127.0.0.1:$PORT"
group_id = "$1-detect"
[kafka.topics]
azure = "$1-azure"
confluence = "$1-confluence"
cloudtrail = "$1-cloudtrail"
alerts = "$1-alerts"
dead_letter = "$1-dead-letter"
${BENCH_EXTRA_TOML:-}
TOML
  $BIN topics --config "$WORK/$1.toml" >/dev/null 2>&1
}
metric_sum() { curl -s "http://$METRICS/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {print s+0}'; }
quantile() { curl -s "http://$METRICS/metrics" | awk -v m="$1" -v q="$2" 'index($1, m"{quantile=\""q"\"}")==1 {print $2}'; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

$BIN simulate --users "$USERS" --days "$DAYS" --out "$WORK/logs" 2>/dev/null >/dev/null
TOTAL=$(cat "$WORK"/logs/{azure,confluence,cloudtrail}.jsonl | wc -l)
echo "corpus: $TOTAL logs, $(du -sh "$WORK/logs" | cut -f1)"

RUN=0
for BIN in ${CYBERLM_BINS:-$BIN}; do
RUN=$((RUN + 1))
  # Phase 1: backlog.
  config backlog$RUN
  $BIN replay "$WORK/logs" --config "$WORK/backlog$RUN.toml" 2>/dev/null | tail -n 1
  CYBERLM_METRICS_LISTEN=$METRICS $BIN detect --kafka --config "$WORK/backlog$RUN.toml" >/dev/null 2>"$WORK/detect1.log" &
  PID=$!
  until curl -sf "http://$METRICS/metrics" >/dev/null; do sleep 0.2; done
  until [ "$(metric_sum cyberlm_consumed_total)" -gt 0 ]; do sleep 0.1; done
  START=$(date +%s.%N)
  # Done when every log has its verdict delivered (the processing-latency summary counts them).
  while [ "$(metric_sum cyberlm_processing_latency_seconds_count)" -lt "$TOTAL" ]; do sleep 0.5; done
  END=$(date +%s.%N)
  RSS=$(peak_rss_mib $PID)
  ALERTS=$(metric_sum cyberlm_alerts_total)
  LATE=$(metric_sum cyberlm_late_events_total); FORCED=$(metric_sum cyberlm_merge_forced_total)
  kill -TERM $PID; wait $PID || true
  RATE=$(echo "$TOTAL / ($END - $START)" | bc -l)
  printf "%s backlog: %d logs in %.1f s = %.0f logs/s through detect; %d alerts; %d late, %d released early; peak RSS %s MiB\n" "$BIN" "$TOTAL" "$(echo "$END - $START" | bc -l)" "$RATE" "$ALERTS" "$LATE" "$FORCED" "$RSS"

  # Phase 2: latency at half that rate (or at each of LATENCY_RATE).
  for HALF in ${LATENCY_RATE:-$(printf "%.0f" "$(echo "$RATE / 2" | bc -l)")}; do
  RUN=$((RUN + 1))
  config latency$RUN
  CYBERLM_METRICS_LISTEN=$METRICS $BIN detect --kafka --config "$WORK/latency$RUN.toml" >/dev/null 2>"$WORK/detect2.log" &
  PID=$!
  until curl -sf "http://$METRICS/metrics" >/dev/null; do sleep 0.2; done
  sleep 3
  N=$((HALF * 30)); [ "$N" -lt "$TOTAL" ] || N=$TOTAL
  mkdir -p "$WORK/slice$RUN"
  for f in azure confluence cloudtrail; do head -n $((N * $(wc -l < "$WORK/logs/$f.jsonl") / TOTAL)) "$WORK/logs/$f.jsonl" > "$WORK/slice$RUN/$f.jsonl"; done
  BROKER=$(cat "$WORK/kafka/broker.pid")
  DETECT_CPU0=$(cpu_seconds $PID); BROKER_CPU0=$(cpu_seconds "$BROKER"); WALL0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$WORK/replay-cpu" $BIN replay "$WORK/slice$RUN" --rate "$HALF" --config "$WORK/latency$RUN.toml" 2>/dev/null | tail -n 1
  SENT=$(cat "$WORK"/slice$RUN/*.jsonl | wc -l)
  while [ "$(metric_sum cyberlm_processing_latency_seconds_count)" -lt "$SENT" ]; do sleep 0.5; done
  WALL=$(echo "$(date +%s.%N) - $WALL0" | bc -l)
  DETECT_CPU=$(echo "$(cpu_seconds $PID) - $DETECT_CPU0" | bc -l); BROKER_CPU=$(echo "$(cpu_seconds "$BROKER") - $BROKER_CPU0" | bc -l)
  REPLAY_CPU=$(awk '{print $1 + $2}' "$WORK/replay-cpu")
  P50=$(quantile cyberlm_replay_to_verdict_seconds 0.5); P99=$(quantile cyberlm_replay_to_verdict_seconds 0.99)
  RSS2=$(peak_rss_mib $PID)
  LATE2=$(metric_sum cyberlm_late_events_total); FORCED2=$(metric_sum cyberlm_merge_forced_total)
  PROC99=$(quantile cyberlm_processing_latency_seconds 0.99)
  MERGE99=$(quantile cyberlm_merge_wait_seconds 0.99); QUEUE99=$(quantile cyberlm_detector_queue_seconds 0.99)
  kill -TERM $PID; wait $PID || true
  printf "%s latency at %s logs/s: replay->verdict p50 %.3f s, p99 %.3f s (consume->verdict p99 %.3f s: merge %.3f s, detector queue %.3f s); %d late, %d released early; peak RSS %s MiB\n" "$BIN" "$HALF" "$P50" "$P99" "$PROC99" "${MERGE99:-0}" "${QUEUE99:-0}" "$LATE2" "$FORCED2" "$RSS2"
  printf "  cores used over %.1f s: detect %.2f, broker %.2f, replay %.2f (of %d)\n" "$WALL" "$(echo "$DETECT_CPU / $WALL" | bc -l)" "$(echo "$BROKER_CPU / $WALL" | bc -l)" "$(echo "$REPLAY_CPU / $WALL" | bc -l)" "$(nproc)"
  done
done
