#!/usr/bin/env bash
# bench/report.py on a small made-up run: the ratios, and each target's
# verdict (met when at or above it, not met below; p99 met when no higher
# than the peer's median round, with the rounds each way; "every run exact" no
# when one was not).
#   report_test.sh PATH_TO_REPORT_PY
set -uo pipefail
report="$1"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failures=0

run() {  # run LABEL CONNECTIONS EVENTS_PER_SECOND P50 P99 EXACT
  echo "{\"label\":\"$1\",\"system\":\"x\",\"connections\":$2,\"events_per_second\":$3,\"latency_us\":{\"p50\":$4,\"p90\":$4,\"p99\":$5,\"p999\":$5,\"max\":$5},\"errors\":{},\"exact\":$6}"
}
{
  for round in 1 2 3; do
    run "tally-at-2000/s#$round" 8 1794 900 "$((2000 + round))" true
    run "tally-8-clients-at-2000/s#$round" 8 1794 900 "$((1000 * round))" true
    run "postgres-at-2000/s#$round" 8 1794 1000 "$((3000 * round))" true
    run "redis-at-2000/s#$round" 8 1794 800 1500 true
  done
  run tally 1 500000 5000 9000 true
  run tally 2 800000 6000 9000 true
  run postgres 16 8000 1000 3000 true
  run redis 32 40000 1000 2000 true
  run redis-pipelined 32 160000 5000 20000 true
  run tally-earn-only 4 1000000 5000 9000 true
  run postgres-earn-only 32 10000 1000 3000 true
  run redis-earn-only 32 50000 1000 2000 false
  run redis-pipelined-earn-only 32 250000 5000 20000 true
  run tally-earn-only-after-sweep 4 600000 5000 9000 true
  run postgres-earn-only-after-sweep 32 8000 1000 3000 true
} > "$scratch/runs.jsonl"

output="$(python3 "$report" "$scratch/runs.jsonl" "$scratch" --no-chart 2>&1)"
code=$?
expect() {  # expect LINE: the report has this exact line
  if ! grep -qxF -- "$1" <<< "$output"; then
    echo "FAIL: no line: $1"
    failures=$((failures + 1))
  fi
}
[ "$code" -eq 0 ] || { echo "FAIL: report.py exited $code"; failures=$((failures + 1)); }
expect "| tally / postgres | 100.0× |"
expect "| tally-earn-only-after-sweep / postgres-earn-only-after-sweep | 75.0× |"
expect "| tally ≥ 100× postgres, default mix | 100.0× | yes |"
expect "| tally ≥ 20× redis, default mix | 20.0× | yes |"
expect "| tally ≥ 5× redis-pipelined, default mix | 5.0× | yes |"
expect "| tally ≥ 100× postgres, earns only | 100.0× | yes |"
expect "| tally ≥ 20× redis, earns only | 20.0× | yes |"
expect "| tally ≥ 5× redis-pipelined, earns only | 4.0× | no |"
expect "| tally's p99 ≤ postgres's at equal load (median round) | 2,002 µs against 6,000 µs (no higher in 3 of 3 rounds) | yes |"
expect "| tally's p99 ≤ redis's at equal load (median round) | 2,002 µs against 1,500 µs (no higher in 0 of 3 rounds) | no |"
expect "| tally-8-clients's p99 ≤ redis's at equal load (median round) | 2,000 µs against 1,500 µs (no higher in 1 of 3 rounds) | no |"
expect "| tally-8-clients's p99 ≤ postgres's at equal load (median round) | 2,000 µs against 6,000 µs (no higher in 3 of 3 rounds) | yes |"
expect "| every run exact | 22 of 23 runs | no |"
[ -f "$scratch/comparison.md" ] || { echo "FAIL: no comparison.md"; failures=$((failures + 1)); }
if [ "$failures" -ne 0 ]; then
  echo "$output"
  echo "$failures failure(s)"
  exit 1
fi
echo "report_test: ok"
