# Helpers of the bench/http scripts (sourced).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_up url: until the URL answers 2xx (the gateway's /readyz answers 503 until recovery has finished).
wait_up() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; return 1; }
# wait_listening url: until the server answers anything (the baseline has no route at /: 404 means it is up).
wait_listening() { for _ in $(seq 1 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" != 000 ] && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; return 1; }
