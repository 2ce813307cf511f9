#!/usr/bin/env bash
# End-to-end test of the tally CLI, embedded (--data) and against a tallyd
# child (--server): outputs and exit codes, and tallyd's clean stop on SIGTERM.
#   cli_test.sh PATH_TO_TALLY PATH_TO_TALLYD [EXPECTED_MALLOC]
# EXPECTED_MALLOC (tcmalloc or system) is what the build linked tallyd with.
set -uo pipefail
tally="$1"
tallyd="$2"
source "$(dirname "$0")/../lib/tallyd_child.sh"
data="$scratch/ledger"
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
hold=00000000000000000000000000000a11

# The loyalty commands (docs/loyalty.md), on chain 9: 8 logged events.
loyalty_checks() {
  expect 2 "--rate wants" -- program --chain 9 --rate 1:100
  expect 2 "--campaign-rule wants" -- program --chain 9 --campaign-rule 5:2026-01-01:2027-01-01:2000
  expect 2 "is not a date" -- program --chain 9 --campaign-rule 5:2026-02-30:2027-01-01:x2000
  expect 1 "program_invalid" -- program --chain 9 --rate 0/100
  expect 1 "program_missing" -- purchase --chain 9 --member 7 --order 1 --amount 100
  expect 0 "program version 1 of chain 9" -- program --chain 9 --rate 1/100 --expiry month-end:12 \
    --tier member:0:1000 --tier silver:1000:1500 --referral-points 100 \
    --campaign-rule 5:2020-01-01:2100-01-01:x2000:auto --campaign-rule 6:2020-01-01:2100-01-01:+50
  expect 0 "earn_purchase 296 points, balance 296" -- purchase --chain 9 --member 7 --order 1 --amount 12345 --campaigns 6
  expect 0 "hold 100 points" -- hold --chain 9 --member 7 --points 100 --duration 600 --id "$hold"
  expect 0 '"spendable":196,"pending":0,"held":100' -- --json balance --chain 9 --member 7
  expect 0 "capture 60 points, balance 236" -- capture --chain 9 --member 7 --hold "$hold" --points 60
  expect 1 "hold_closed" -- release --chain 9 --member 7 --hold "$hold"
  expect 0 "transfer 20 points, balance 216" -- transfer --chain 9 --member 7 --to 8 --points 20
  expect 0 "transfer_in" -- history --chain 9 --member 8
  expect 0 '"base_points":123,"shares":[{"campaign":5,"points":123},{"campaign":6,"points":50}]' -- \
    --json history --chain 9 --member 7 --limit 10
  expect 0 "tier member: 123 qualifying points, 877 to the next tier" -- member --chain 9 --member 7
  expect 0 '"lots_total":1' -- --json member --chain 9 --member 8 --expiring-before 2100-01-01
  expect 0 "wrote off past-date points of 0 members in 1 sweeps" -- expire --chain 9
  expect 2 "--chain is required" -- expire
  expect 0 "member 8: 20 points, tier 0, last purchase never" -- segment --chain 9 --inactive-days 30
  expect 0 '{"member":7,"balance":216,"tier":0,"value":877}' -- --json segment --chain 9 --near-next-tier 900
  expect 0 '{"members":1,"scanned":' -- --json segment --chain 9 --near-next-tier 900
  expect 0 "0 members" -- segment --chain 9 --expiring-before 2020-01-01
  expect 2 "segment wants one of" -- segment --chain 9
}
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
loyalty_checks
expect 0 "replay ok: 11 events" -- replay
# The audit: the hash chain through a head kept from status (docs/audit.md).
kept="$("$tally" --data "$data" --json status | sed -n 's/.*"chain_head":"\([0-9]*:[0-9a-f]*\)".*/\1/p')"
[ -n "$kept" ] || { echo "FAIL: no chain_head in status"; failures=$((failures + 1)); }
expect 0 "audit ok: 11 events" -- audit
expect 0 "hash chain (through the head given)" -- audit --head "$kept"
forged="${kept%?}0"
[ "$forged" != "$kept" ] || forged="${kept%?}1"
expect 4 "not the kept head" -- audit --head "$forged"
expect 2 "--head wants SEQUENCE:HASH" -- audit --head 11
expect 0 "sequence,timestamp_us,chain,member,kind,result,points,moved,balance_after,id" -- export --chain 9
expect 0 ",9,7,earn_purchase,ok,0,296,296," -- export --chain 9
expect 0 '"kind":"transfer","result":"ok","points":20,"moved":20,"balance_after":216' -- \
  export --format jsonl --chain 9 --from-sequence 10 --to-sequence 10
lines="$("$tally" --data "$data" export --chain 9 2>/dev/null | wc -l)"
[ "$lines" -eq 9 ] || { echo "FAIL: export of chain 9 has $lines lines, wanted a header and 8 events"; failures=$((failures + 1)); }
expect 2 "--format is csv or jsonl" -- export --format xml
expect 0 "7,216," -- balances --chain 9 --as-of 2100-01-01
expect 0 '"member":8,"balance":20' -- --json balances --chain 9 --as-of 2100-01-01
expect 0 "member,balance,last_sequence" -- balances --chain 9 --as-of 2000-01-01
expect 0 "reconciled" -- liability --chain 9 --from 2000-01-01 --to 2100-01-01
expect 0 '"issued":296,"redeemed":60,"expired":0,"returned":0,"redemptions_reversed":0,"adjusted":0,"end":236' -- \
  --json liability --chain 9 --from 2000-01-01 --to 2100-01-01
expect 2 "a period ends after it starts" -- liability --chain 9 --from 2100-01-01 --to 2000-01-01
expect 0 "backup in $scratch/copy ends at chain head 11:" -- backup --to "$scratch/copy"
expect 2 "exists already" -- backup --to "$scratch/copy"
expect 2 "backup needs --to DIR" -- backup
target=(--data "$scratch/copy")
expect 0 "audit ok: 11 events" -- audit --head "$kept"
target=(--data "$data")

# The same through tallyd.
served="$scratch/served"
start_tallyd "$served"
if [ -n "${3:-}" ] && [[ "$server_first_line" != *"malloc: $3"* ]]; then
  echo "FAIL: tallyd was built with malloc $3, its start line says: $server_first_line"
  failures=$((failures + 1))
fi
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
loyalty_checks
expect 0 "backup in $scratch/served-copy ends at chain head 11:" -- backup --to "$scratch/served-copy"
target=()
expect 2 "--server wants HOST:PORT" -- --server nowhere status
expect 2 "--server is given twice" -- --server 127.0.0.1:1 --server 127.0.0.1:2 status
target=(--server "127.0.0.1:1")
expect 3 "cannot connect" -- status
kill -TERM "$server_pid"
wait "$server_pid"
code=$?
server_pid=""
read -r last_line <&"$server_out"
if [ "$code" -ne 0 ] || [ "$last_line" != "tallyd stopped" ]; then
  echo "FAIL: tallyd on SIGTERM exited $code, last line '$last_line'"
  failures=$((failures + 1))
fi
target=(--data "$served")
expect 0 "replay ok: 11 events" -- replay
expect 0 "audit ok: 11 events" -- audit
target=(--data "$scratch/served-copy")
expect 0 "audit ok: 11 events" -- audit
expect 0 "chain 9 member 7: 216 points" -- balance --chain 9 --member 7

# Tokens (docs/security.md): managed on the data directory, presented to tallyd.
secured="$scratch/secured"
target=(--data "$secured")
expect 2 "--role is reader, writer, auditor or admin" -- token create --name x --role boss
writer_secret="$("$tally" --data "$secured" --json token create --name checkout --role writer --chain 1 | sed -n 's/.*"secret":"\(tly_[0-9a-f]*\)".*/\1/p')"
[ -n "$writer_secret" ] || { echo "FAIL: token create printed no secret"; failures=$((failures + 1)); }
expect 0 "token reader (reader, chain 1)" -- token create --name reader --role reader --chain 1
expect 2 "exists already" -- token create --name checkout --role reader
expect 0 "checkout             writer   chain 1" -- token list
admin_secret="$("$tally" --data "$secured" --json token create --name ops --role admin | sed -n 's/.*"secret":"\(tly_[0-9a-f]*\)".*/\1/p')"
start_tallyd "$secured"
target=(--server "127.0.0.1:$port")
expect 1 "unauthorized" -- status
expect 0 "balance 5" -- --token "$writer_secret" earn --chain 1 --member 42 --points 5
expect 1 "may not earn in chain 2" -- --token "$writer_secret" earn --chain 2 --member 42 --points 5
output="$(TALLY_TOKEN="$writer_secret" "$tally" --server "127.0.0.1:$port" balance --chain 1 --member 42 2>&1)"
[[ "$output" == *"5 points"* ]] || { echo "FAIL: TALLY_TOKEN was not used: $output"; failures=$((failures + 1)); }
# Tokens through tallyd, with an admin token, while it serves.
expect 0 "token late (reader, chain 1): tly_" -- --token "$admin_secret" token create --name late --role reader --chain 1
expect 0 "late                 reader   chain 1" -- --token "$admin_secret" token list
expect 1 "may not manage tokens" -- --token "$writer_secret" token list
expect 0 "revoked late" -- --token "$admin_secret" token revoke --name late
expect 0 ", revoked" -- --token "$admin_secret" token list
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
target=(--data "$secured")
expect 0 "revoked checkout" -- token revoke --name checkout
expect 0 ", revoked" -- token list

# TLS (docs/security.md): tallyd presents a certificate; the CLI verifies it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=tally \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:TRUE" \
  -keyout "$scratch/tls.key" -out "$scratch/tls.crt" 2>/dev/null \
  || { echo "FAIL: openssl could not make a certificate"; failures=$((failures + 1)); }
start_tallyd "$scratch/tls-ledger" --tls-cert "$scratch/tls.crt" --tls-key "$scratch/tls.key"
target=(--server "127.0.0.1:$port" --tls-ca "$scratch/tls.crt")
expect 0 "balance 100" -- earn --chain 1 --member 42 --points 100
expect 0 "100 points" -- --tls-name localhost balance --chain 1 --member 42
expect 3 "certificate verify failed" -- --tls-name ledger.example status
output="$(TALLY_TLS_CA="$scratch/tls.crt" "$tally" --server "127.0.0.1:$port" balance --chain 1 --member 42 2>&1)"
[[ "$output" == *"100 points"* ]] || { echo "FAIL: TALLY_TLS_CA was not used: $output"; failures=$((failures + 1)); }
target=(--server "127.0.0.1:$port")
expect 3 "" -- status
# A new certificate in the same files, and SIGHUP: new connections get it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=tally2 \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$scratch/tls.key" -out "$scratch/tls.crt" 2>/dev/null
kill -HUP "$server_pid"
read -r reload_line <&"$server_out"
[[ "$reload_line" == *"TLS certificate and key read again"* ]] || { echo "FAIL: SIGHUP: '$reload_line'"; failures=$((failures + 1)); }
target=(--server "127.0.0.1:$port" --tls-ca "$scratch/tls.crt")
expect 0 "100 points" -- balance --chain 1 --member 42
target=(--server "127.0.0.1:$port")
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
output="$("$tallyd" --data "$scratch/tls-ledger" --listen 127.0.0.1:0 --tls-cert "$scratch/tls.crt" --tls-key "$scratch/missing.key" 2>&1)"
[[ "$output" == *"missing.key"* ]] || { echo "FAIL: tallyd with a missing key: $output"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all CLI checks passed"
