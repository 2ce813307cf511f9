# Sourced by the shell tests that run a tallyd child: start_tallyd starts
# one at a free port; unless the test made its own $scratch (and its own
# cleanup), a scratch directory is made and it and the child are cleaned up
# at exit.
#   source tallyd_child.sh   (needs $tallyd: the tallyd binary)
if [ -z "${scratch:-}" ]; then
  scratch="$(mktemp -d)"
  server_pid=""
  cleanup() {
    [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
    rm -rf "$scratch"
  }
  trap cleanup EXIT
fi

# Starts tallyd on DIR (with any further tallyd options) at a free port;
# sets server_pid, port, server_out (a descriptor on its output) and
# server_first_line ("tallyd listening on HOST:PORT[ (TLS)], ...").
start_tallyd() {
  local fifo
  fifo="$scratch/out-$(basename "$1")"
  mkfifo "$fifo"
  "$tallyd" --data "$1" --listen 127.0.0.1:0 "${@:2}" > "$fifo" &
  server_pid=$!
  exec {server_out}< "$fifo"
  read -r server_first_line <&"$server_out"
  port="$(echo "$server_first_line" | sed -E 's/.*127\.0\.0\.1:([0-9]+)[ ,].*/\1/')"
}
