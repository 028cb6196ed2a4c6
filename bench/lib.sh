# Helpers the bench scripts share (sourced, not run):
#   . "$here/bench/lib.sh"
#   bench_dir NAME      # $dir: a new /tmp/NAME.XXXXXX; $pids: processes to stop; both cleaned up at exit
#                       # (a pid that leads a process group, `setsid CMD &`, is stopped with its group)
#   free_port           # a free TCP port on 127.0.0.1
#   wait_port PORT [N]  # wait up to N tenths of a second (default 600) for PORT to accept
bench_dir() {
  dir=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  # A job started as `setsid CMD &` in a script without job control leads its own group:
  # -PID stops the whole group (gunicorn's workers); for any other job that group does
  # not exist, and the process alone is stopped.
  for pid in ${pids[@]+"${pids[@]}"}; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq "${2:-600}"); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done
  echo "port $1 never opened" >&2
  exit 1
}
