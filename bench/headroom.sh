#!/usr/bin/env bash
# Headroom routing against a token rate limit (README "Headroom: spilling over before the 429"): bench/run.sh's step 6
# (sourced; it calls measure_headroom), or on its own:
#
#   bench/headroom.sh [--smoke]      needs target/powerproxy.jar (make jar); redis-server for the two-replica rows
#
# Two endpoints, each a bench/MockAzure.java process: Sweden enforces a token rate limit as Azure does (a sliding window,
# x-ratelimit-remaining-* on every answer, 429 with retry-after past it), France has none. A steady load of chat requests
# (max_tokens 200, about 300 tokens each as the mock counts them) at three times what Sweden admits per window goes
# through the proxy with headroom routing off and on, with one replica and with two (sharing through redis-server, half
# the load each). Reported per run: the 429s Sweden answered (each one a round trip the client waited for), the requests
# each endpoint served, and the clients' latency (open loop, from each request's due time). The window is 6 s (smoke:
# 3 s), a run 15 s after a window's warm-up (smoke: 8 s), instead of Azure's 60 s so that runs of a few windows fit in
# make bench's 15 minutes; the proxy is told the same window with window_seconds.
# Writes $T/headroom.md (a markdown section) and adds a record per run to $RAW when run from bench/run.sh.

# shellcheck disable=SC2154 # T, PIDS, JAVA, JAR, TOOL, MODE, PROXY_JVM_FLAGS, log, warn, fail come from bench/run.sh.
measure_headroom() {
  local window seconds rate=40 cost=297 capacity redis_port= redis_pid= redis_server replicas mode
  if [ "$MODE" = smoke ]; then window=3; seconds=8; else window=6; seconds=15; fi
  # Sweden admits a third of the load: the rest must go to France, before or after a 429.
  capacity=$((rate * window * cost / 3))
  redis_server=$(command -v redis-server 2>/dev/null || true)
  if [ -n "$redis_server" ]; then
    redis_port=$(free_port)
    "$redis_server" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
      >"$T/headroom-redis.log" 2>&1 &
    redis_pid=$!
    PIDS+=("$redis_pid")
    if ! wait_for_port "$redis_port" "$redis_pid"; then
      warn "headroom: redis-server did not start: the two replicas share nothing"
      redis_port=
    fi
  else
    warn "headroom: redis-server is not installed: the two replicas share nothing"
  fi
  log "headroom: $rate req/s of ~$cost tokens; Sweden admits $capacity tokens per ${window}s window (a third), France all; ${seconds}s per run"
  {
    echo
    echo "### Headroom routing: 429s before and after spilling over"
    echo
    echo "$rate chat requests/s (max_tokens 200, ~$cost tokens each as the mock counts them) for ${window} s of warm-up, then"
    echo "${seconds} s measured (latency: the measured part; counts: the whole run); endpoint"
    echo "Sweden admits $capacity tokens per sliding ${window}-s window (a third of the load) and answers 429 past it,"
    echo "France takes the rest. Two replicas get half the load each$([ -n "$redis_port" ] && echo " and share through redis-server")."
    echo
    echo "| replicas | headroom | 429s from Sweden | served by Sweden | served by France | client p50 ms | client p99 ms | client errors |"
    echo "|---|---|---|---|---|---|---|---|"
  } >"$T/headroom.md"
  for replicas in 1 2; do
    # Two runs, each the window's warm-up, the measured part and about 5 s to start the mocks and proxies.
    fits $((2 * (window + seconds + 5))) "the headroom runs with $replicas replica(s)" || break
    for mode in off on; do
      headroom_run "$replicas" "$mode" "$window" "$seconds" "$rate" "$capacity" "$redis_port"
    done
  done
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
    forget_pid "$redis_pid"
  fi
  cat "$T/headroom.md" >&2
}

# One run: fresh mocks (empty windows), 1 or 2 proxies, the load split between them; a row of $T/headroom.md.
headroom_run() {
  local replicas=$1 mode=$2 window=$3 seconds=$4 rate=$5 capacity=$6 redis_port=$7
  local name="headroom-$replicas-$mode" sweden_port france_port sweden_pid france_pid config proxy_pids=() ports=()
  local i port loads=() rc=0 line throttled admitted_sweden served_france p50 p99 errors
  sweden_port=$(free_port)
  france_port=$(free_port)
  $TOOL MockAzure --port "$sweden_port" --tokens-per-window "$capacity" --window-s "$window" --tickers 0 \
    >"$T/$name-sweden.log" 2>&1 &
  sweden_pid=$!
  $TOOL MockAzure --port "$france_port" --tickers 0 >"$T/$name-france.log" 2>&1 &
  france_pid=$!
  PIDS+=("$sweden_pid" "$france_pid")
  if ! wait_for_line "$T/$name-sweden.log" "mock ready" "$sweden_pid" 30 \
      || ! wait_for_line "$T/$name-france.log" "mock ready" "$france_pid" 30; then
    fail "headroom: the mocks of $name did not start"
    return
  fi
  config="$T/$name.yaml"
  {
    cat <<EOF
# Written by bench/headroom.sh: one client, no plugins, two endpoints; Sweden first.
clients:
  - name: Bench
    key: bench-key-team-a-0123456789
aoai:
  endpoints:
    - name: Sweden
      url: http://127.0.0.1:$sweden_port/
      key: upstream-key-sweden-0123456789
    - name: France
      url: http://127.0.0.1:$france_port/
      key: upstream-key-france-0123456789
  headroom:
    enabled: $([ "$mode" = on ] && echo true || echo false)
    window_seconds: $window
EOF
    if [ "$replicas" -gt 1 ] && [ -n "$redis_port" ]; then
      cat <<EOF
    redis:
      redis_host: 127.0.0.1
      redis_port: $redis_port
      redis_ssl: false
    redis_key_prefix: bench-$name-$RANDOM
EOF
    fi
  } >"$config"
  for i in $(seq 1 "$replicas"); do
    port=$(free_port)
    if ! start_proxy "$PROXY_JVM_FLAGS" "$T/$name-proxy$i.log" "$port" "$config"; then
      cat "$T/$name-proxy$i.log" >&2
      fail "headroom: the proxy of $name did not start"
      return
    fi
    proxy_pids+=("$STARTED_PID")
    ports+=("$port")
  done
  for port in "${ports[@]}"; do
    $TOOL LoadClient --port "$port" --rate "$(awk -v r="$rate" -v n="$replicas" 'BEGIN { print r / n }')" \
      --connections 16 --duration-s "$seconds" --warmup-s "$window" --keys bench-key-team-a-0123456789 \
      >"$T/$name-load-$port.txt" 2>&1 &
    loads+=($!)
  done
  for i in "${loads[@]}"; do
    wait "$i" || rc=1
  done
  throttled=$(mock_stats "$sweden_port" throttled)
  admitted_sweden=$(mock_stats "$sweden_port" admitted)
  served_france=$(mock_stats "$france_port" requests)
  # The clients' latency: the slower of the replicas' percentiles; their errors and non-2xx answers summed.
  p50=$(cat "$T/$name"-load-*.txt | sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p' | sort -n | tail -1)
  p99=$(cat "$T/$name"-load-*.txt | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' | sort -n | tail -1)
  errors=$(cat "$T/$name"-load-*.txt | sed -n 's/.* errors=\([0-9]*\) non2xx=\([0-9]*\).*/\1 \2/p' \
    | awk '{ s += $1 + $2 } END { print s + 0 }')
  line="| $replicas | $mode | $throttled | $admitted_sweden | $served_france | ${p50:--} | ${p99:--} | $errors |"
  echo "$line" >>"$T/headroom.md"
  log "headroom: $line"
  [ -n "${RAW:-}" ] && record headroom "$replicas-$mode" 1 "throttled=$throttled sweden=$admitted_sweden france=$served_france p50_ms=$p50 p99_ms=$p99 errors=$errors"
  [ "$rc" = 0 ] || fail "headroom: a client of $name saw errors or non-2xx answers: $(cat "$T/$name"-load-*.txt | tr '\n' ' ' | tail -c 300)"
  for i in "${proxy_pids[@]}"; do
    stop_proxy "$i"
  done
  for i in "$sweden_pid" "$france_pid"; do
    kill "$i" 2>/dev/null
    wait "$i" 2>/dev/null
    forget_pid "$i"
  done
}

# One counter of a mock's /stats.
mock_stats() { # $1: port, $2: field
  curl -s "http://127.0.0.1:$1/stats" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

# Run on its own: the helpers bench/run.sh would give, then the step.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  ROOT=$(cd "$(dirname "$0")/.." && pwd)
  cd "$ROOT" || exit 1
  source bench/lib.sh
  MODE=full
  [ "${1:-}" = --smoke ] && MODE=smoke
  SECONDS_START=$(( ${EPOCHREALTIME/./} / 1000 ))
  log() { printf '==> %s\n' "$*" >&2; }
  warn() { printf 'headroom: WARNING: %s\n' "$*" >&2; }
  FAILED=0
  fail() { printf 'headroom: FAILED: %s\n' "$*" >&2; FAILED=1; }
  record() { :; }
  wait_for_port() {
    local i
    for i in $(seq 1 500); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
      kill -0 "$2" 2>/dev/null || return 1
      sleep 0.02
    done
    return 1
  }
  start_proxy() { # $1: JVM flags, $2: log file, $3: port, $4: config file
    # shellcheck disable=SC2086
    "$JAVA" $1 -jar "$JAR" --config-file "$4" --port "$3" >"$2" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    wait_for_line "$2" "ready on port" "$STARTED_PID" 60
  }
  stop_proxy() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; forget_pid "$1"; }
  use_jdk headroom
  T=$(mktemp -d /tmp/powerproxy-headroom.XXXXXX)
  PIDS=()
  trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
  [ -f target/powerproxy.jar ] || { echo "headroom: no target/powerproxy.jar (run make jar)" >&2; exit 1; }
  JAR=$T/powerproxy.jar
  cp target/powerproxy.jar "$JAR"
  mkdir -p "$T/classes"
  "$JAVA_HOME/bin/javac" -d "$T/classes" bench/MockAzure.java bench/LoadClient.java bench/ResponseFraming.java || exit 1
  TOOL="$JAVA -XX:+UseSerialGC -Xmx512m -XX:-UsePerfData -cp $T/classes"
  PROXY_JVM_FLAGS=${PROXY_JVM_FLAGS:--Xmx512m}
  measure_headroom
  exit "$FAILED"
fi
