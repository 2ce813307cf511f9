#!/usr/bin/env bash
# End-to-end test of the tally CLI, embedded (--data) and against a tallyd
# child (--server): outputs and exit codes, and tallyd's clean stop on SIGTERM.
#   cli_test.sh PATH_TO_TALLY PATH_TO_TALLYD
set -uo pipefail
tally="$1"
tallyd="$2"
scratch="$(mktemp -d)"
data="$scratch/ledger"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT
failures=0
target=(--data "$data")

expect() {  # expect EXIT_CODE OUTPUT_SUBSTRING -- ARGS...
  local want_code="$1" want_text="$2"
  shift 3
  local output code
  output="$("$tally" "${target[@]}" "$@" 2>&1)"
  code=$?
  if [ "$code" -ne "$want_code" ] || [[ "$output" != *"$want_text"* ]]; then
    echo "FAIL: tally $* -> exit $code, wanted $want_code with '$want_text'; output:"
    echo "$output"
    failures=$((failures + 1))
  fi
}

id=0123456789abcdef0123456789abcdef
expect 4 "does not exist" -- balance --chain 1 --member 42
[ ! -e "$data" ] || { echo "FAIL: a query created the data directory"; failures=$((failures + 1)); }
expect 2 "--points is required" -- earn --chain 1 --member 42
[ ! -e "$data" ] || { echo "FAIL: a usage error created the data directory"; failures=$((failures + 1)); }
expect 0 "balance 100" -- earn --chain 1 --member 42 --points 100 --id "$id"
expect 0 '"result":"ok","sequence":1,"balance":100' -- --json earn --chain 1 --member 42 --points 100 --id "$id"
expect 1 "id_conflict" -- earn --chain 1 --member 42 --points 7 --id "$id"
expect 1 "insufficient_points" -- redeem --chain 1 --member 42 --points 101
expect 1 "amount_invalid" -- earn --chain 1 --member 42 --points 0
expect 1 "reason_missing" -- adjust --chain 1 --member 42 --points -5
expect 0 "balance 60" -- reverse --chain 1 --member 42 --points 40 --target "$id"
expect 0 '"balance":60' -- --json balance --chain 1 --member 42
expect 0 "insufficient_points" -- history --chain 1 --member 42
expect 0 '"found":true,"result":"ok","sequence":1' -- --json find --chain 1 --id "$id"
expect 1 "not in the ledger" -- find --chain 1 --id ffffffffffffffffffffffffffffffff
expect 2 "32 hex digits" -- earn --chain 1 --member 42 --points 1 --id 12
expect 2 "must be an integer" -- earn --chain 1 --member 42 --points ten
expect 2 "unknown subcommand" -- frobnicate
expect 0 "last_sequence      3" -- status
expect 0 "replay ok: 3 events" -- replay
expect 0 '"points_outstanding":60' -- --json replay

# The same through tallyd. It prints "tallyd listening on HOST:PORT, ..." first.
served="$scratch/served"
mkfifo "$scratch/out"
"$tallyd" --data "$served" --listen 127.0.0.1:0 > "$scratch/out" &
server_pid=$!
exec 3< "$scratch/out"
read -r first_line <&3
port="$(echo "$first_line" | sed -E 's/.*127\.0\.0\.1:([0-9]+),.*/\1/')"
target=(--server "127.0.0.1:$port")
expect 0 "balance 100" -- earn --chain 1 --member 42 --points 100 --id "$id"
expect 0 '"result":"ok","sequence":1,"balance":100' -- --json earn --chain 1 --member 42 --points 100 --id "$id"
expect 1 "id_conflict" -- earn --chain 1 --member 42 --points 7 --id "$id"
expect 1 "insufficient_points" -- redeem --chain 1 --member 42 --points 101
expect 0 "balance 60" -- reverse --chain 1 --member 42 --points 40 --target "$id"
expect 0 '"balance":60' -- --json balance --chain 1 --member 42
expect 0 "insufficient_points" -- history --chain 1 --member 42
expect 2 "history cursor is damaged" -- history --chain 1 --member 42 --cursor 00
expect 0 '"found":true,"result":"ok","sequence":1' -- --json find --chain 1 --id "$id"
expect 0 "connections" -- status
expect 2 "--server wants HOST:PORT" -- --server nowhere status
target=(--server "127.0.0.1:1")
expect 3 "cannot connect" -- status
kill -TERM "$server_pid"
wait "$server_pid"
code=$?
server_pid=""
read -r last_line <&3
if [ "$code" -ne 0 ] || [ "$last_line" != "tallyd stopped" ]; then
  echo "FAIL: tallyd on SIGTERM exited $code, last line '$last_line'"
  failures=$((failures + 1))
fi
target=(--data "$served")
expect 0 "replay ok: 3 events" -- replay

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all CLI checks passed"
