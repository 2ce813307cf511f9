#!/usr/bin/env bash
# A real full disk under tallyd: a small tmpfs holds the data directory, a
# filler file takes the rest of it, and load runs until the ledger stops.
# While full, commands and queries get `unavailable` with the cause and the
# status says why; once the filler is gone, the next request resumes the
# ledger; nothing acknowledged is lost, a retried command applies once, and
# the audit passes after a restart (docs/engine.md, "When a write fails").
# Needs to mount a tmpfs (root); skipped (exit 77) where that is not allowed.
#   disk_full_test.sh PATH_TO_TALLY PATH_TO_TALLYD PATH_TO_SERVER_LOAD
set -uo pipefail
tally="$1"
tallyd="$2"
server_load="$3"
scratch="$(mktemp -d)"
disk="$scratch/disk"
server_pid=""
mounted=""
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$mounted" ] && umount "$disk"
  rm -rf "$scratch"
}
trap cleanup EXIT
source "$(dirname "$0")/../lib/tallyd_child.sh"
mkdir -p "$disk"
if ! mount -t tmpfs -o size=48m tmpfs "$disk" 2>/dev/null; then
  echo "skipped: cannot mount a tmpfs here (needs root)"
  exit 77
fi
mounted=yes
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

start_tallyd "$disk/ledger" --journal-file-mb 4
at=(--server "127.0.0.1:$port")

acked=0123456789abcdef0123456789abcdef
refused=00000000000000000000000000000bad
"$tally" "${at[@]}" earn --chain 1 --member 1 --points 100 --id "$acked" > /dev/null || fail "the first earn"
dd if=/dev/zero of="$disk/filler" bs=1M 2>/dev/null  # fails when the disk is full, as it should

# Load until a write fails (RocksDB has some space set aside in its log).
stopped=""
for round in $(seq 1 60); do
  "$server_load" "${at[@]}" --connections 1 --batch 1024 --window 1 --seconds 1 > /dev/null 2>&1
  stopped="$("$tally" "${at[@]}" status | sed -n 's/^stopped *//p')"
  [ -n "$stopped" ] && break
done
[[ "$stopped" == *"No space left on device"* ]] || fail "the ledger did not stop on a full disk: '$stopped'"

output="$("$tally" "${at[@]}" earn --chain 1 --member 1 --points 5 --id "$refused" 2>&1)"
code=$?
[ "$code" -eq 3 ] && [[ "$output" == *"cannot write to its disk"* ]] || fail "an earn on a full disk: exit $code, $output"
output="$("$tally" "${at[@]}" balance --chain 1 --member 1 2>&1)"
[ $? -eq 3 ] || fail "a balance on a full disk was answered: $output"

rm "$disk/filler"
output="$("$tally" "${at[@]}" balance --chain 1 --member 1 2>&1)"
[[ "$output" == *"100 points"* ]] || fail "after space returned: $output"
"$tally" "${at[@]}" status | grep -q '^stopped' && fail "still stopped after space returned"
"$tally" "${at[@]}" earn --chain 1 --member 1 --points 5 --id "$refused" > /dev/null || fail "the retried earn"
"$tally" "${at[@]}" earn --chain 1 --member 1 --points 5 --id "$refused" > /dev/null || fail "the retried earn again"
output="$("$tally" "${at[@]}" balance --chain 1 --member 1 2>&1)"
[[ "$output" == *"105 points"* ]] || fail "the retried earn applied other than once: $output"

kill -TERM "$server_pid"
wait "$server_pid" || fail "tallyd did not stop cleanly"
server_pid=""
output="$("$tally" --data "$disk/ledger" audit 2>&1)" || fail "audit after the full disk: $output"
output="$("$tally" --data "$disk/ledger" balance --chain 1 --member 1 2>&1)"
[[ "$output" == *"105 points"* ]] || fail "after a restart: $output"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "full disk: stopped, refused, resumed, nothing lost"
