#!/usr/bin/env bash
# tally-bench against a tallyd child: a short run of every operation passes
# its exactness check and ends with the JSON line the charts read; a run
# whose members did not start at zero fails the check, says which member
# differs, and exits 1; an unreachable server and bad options are refused.
#   tally_bench_test.sh PATH_TO_TALLY_BENCH PATH_TO_TALLYD PATH_TO_TALLY
set -uo pipefail
bench="$1"
tallyd="$2"
tally="$3"
source "$(dirname "$0")/../lib/tallyd_child.sh"
failures=0
fail() {
  echo "FAIL: $1"
  [ $# -gt 1 ] && echo "$2"
  failures=$((failures + 1))
}

start_tallyd "$scratch/ledger"
server="127.0.0.1:$port"

# Every operation, retries included, batched and windowed.
output="$("$bench" --system tally --server "$server" --duration 1 --connections 2 --window 2 --batch 16 \
  --members 200 --mix earn=40,redeem=20,balance=10,reverse=10,hold=20 --retry-share 0.1 --json 2>/dev/null)"
code=$?
last="$(echo "$output" | tail -n 1)"
[ "$code" -eq 0 ] || fail "a clean run exited $code" "$output"
[[ "$output" == *"exactness: PASSED"* ]] || fail "a clean run did not pass its check" "$output"
for key in '"exact":true' '"latency_us":{"p50":' '"p90":' '"p99":' '"p999":' '"max":' '"errors":{' '"check":"ok"'; do
  [[ "$last" == "{"*"$key"*"}" ]] || fail "the JSON line lacks $key" "$last"
done
events="$(echo "$last" | sed -E 's/.*"events":([0-9]+).*/\1/')"
[ "$events" -gt 0 ] 2>/dev/null || fail "a clean run applied no events" "$last"
[[ "$last" != *'"start_delay_us"'* ]] || fail "a closed loop gives start delays" "$last"

# An open loop with a warm-up, every measured call written to a file: one
# line a call (earns only, one command a call), in due order, due from the
# end of the warm-up.
latencies="$scratch/latencies.txt"
output="$("$bench" --system tally --server "$server" --duration 1 --warmup 0.5 --connections 2 --rate 400 \
  --members 200 --mix earn=100 --latencies "$latencies" --json 2>/dev/null)"
code=$?
last="$(echo "$output" | tail -n 1)"
[ "$code" -eq 0 ] || fail "an open loop with a warm-up exited $code" "$output"
[[ "$last" == *'"warmup_seconds":0.500'* ]] || fail "the JSON line does not give the warm-up" "$last"
events="$(echo "$last" | sed -E 's/.*"events":([0-9]+).*/\1/')"
lines="$(grep -vc '^#' "$latencies")"
[ "$lines" -eq "$events" ] 2>/dev/null || fail "$lines latency lines for $events calls" "$last"
[ "$events" -gt 200 ] && [ "$events" -lt 800 ] || fail "$events calls measured in 1 s at 400/s" "$last"
sort -n -c <(grep -v '^#' "$latencies" | cut -d' ' -f1) || fail "the latency file is not in due order"
# How late the calls started, a part of their latencies: at most the longest.
if [[ "$last" =~ \"start_delay_us\":\{\"p50\":([0-9]+),\"p99\":([0-9]+)\} ]]; then
  start_p50="${BASH_REMATCH[1]}"
  start_p99="${BASH_REMATCH[2]}"
  longest="$(echo "$last" | sed -E 's/.*"max":([0-9]+).*/\1/')"
  [ "$start_p50" -le "$start_p99" ] && [ "$start_p99" -le "$longest" ] ||
    fail "start delays p50 $start_p50, p99 $start_p99 for calls of at most $longest us" "$last"
else
  fail "an open loop's JSON line lacks start_delay_us" "$last"
fi
awk '!/^#/ && ($1 < 0 || $1 > 1100000 || $2 <= 0 || $3 < 0 || $3 > 1) { bad = 1 } END { exit bad }' "$latencies" ||
  fail "a latency line is out of range" "$(head -n 5 "$latencies")"

# Members that did not start at zero: chain 4242's three members get a
# point each first, which the generator does not know of.
for member in 1 2 3; do
  "$tally" --server "$server" earn --chain 4242 --member "$member" --points 1 > /dev/null ||
    fail "could not earn a point for member $member"
done
output="$("$bench" --system tally --server "$server" --duration 1 --connections 1 --members 3 --chain 4242 \
  --mix earn=100 --json 2>/dev/null)"
code=$?
last="$(echo "$output" | tail -n 1)"
[ "$code" -eq 1 ] || fail "a run off by a point exited $code, wanted 1" "$output"
[[ "$output" == *"exactness: FAILED (3 members read back, 3 differ)"* ]] || fail "the failed check is not reported" "$output"
[[ "$last" == *'"exact":false'*'has '*', expected '* ]] || fail "the JSON line does not say the check failed" "$last"

# Nothing listening.
output="$("$bench" --system tally --server 127.0.0.1:1 --duration 1 --connections 1 --json 2>/dev/null)"
code=$?
[ "$code" -eq 1 ] || fail "a run against no server exited $code, wanted 1" "$output"
[[ "$output" == *'"exact":false,"check":"operations failed: connect'* ]] || fail "no server is not reported" "$output"

# Bad options.
for options in "--duration 0" "--warmup -1" "--system mysql" "--mix redeem=10" "--chain 4294967296" "--bogus 1" "--members"; do
  # shellcheck disable=SC2086
  output="$("$bench" --server "$server" $options 2>&1)"
  code=$?
  [ "$code" -eq 2 ] || fail "tally-bench $options exited $code, wanted 2" "$output"
  [[ "$output" == "tally-bench: "* ]] || fail "tally-bench $options gave no reason" "$output"
done

kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "tally-bench: all checks passed"
