#!/usr/bin/env bash
# PowerProxy benchmark: the proxy side by side with the mock upstream alone and with nginx, on this machine, in one run.
#
#   make bench                 # or: bench/run.sh          full run (~13 min, at most 15), results in bench/results/
#   make bench-smoke           # or: bench/run.sh --smoke  every step, briefly (~1 min); exits 1 on any failure
#
# Options: --smoke, --repeats N (default 3; smoke 1), --no-install (never apt-get), --no-build (use the jar as is),
#          --out DIR (where the .md/.png go; default bench/results, smoke: the temp dir), --keep (keep the temp dir).
# Environment: PROXY_JVM_FLAGS (default "-Xmx1g -XX:+UseZGC", plus -XX:+ZGenerational before JDK 23: what README
#              recommends), NGINX_WORKERS (default 1),
#              RUN_VARIANTS (default 1; 0 skips step 4),
#              JAVA_HOME (else .ci/find-jdk finds a JDK 21+).
#
# What it does: builds the jar (make jar); compiles bench/*.java; starts bench/MockAzure.java (two ports: the two
# endpoints of the proxy's config), nginx (proxy_pass with upstream keepalive; skipped when not installed) and the proxy
# (3 clients, AllowDeployments, LimitUsage, LogUsageToCsvFile, 2 endpoints with virtual deployments). Beside them: the
# floor (bench/Floor.java: a bare relay of the same JDK classes, no plugins), and, over TLS to the mock's HTTPS ports
# (a certificate made here; the JVMs trust it with a trust store), the floor, nginx and the proxy again; and the proxy
# with the original's default `connections` settings, over plain HTTP and TLS. Then it measures:
#   1. start-up: process start to the "ready" line (several runs, plus a run with an AppCDS archive), jar size;
#   2. non-streaming chat at fixed concurrency (wrk -t2 -c64 --latency; bench/LoadClient.java --rate 0 without wrk):
#      requests/s and p50/p90/p99, for direct (mock), nginx, floor and proxy, the TLS and the default-config rows,
#      interleaved, each repeated; CPU per request, ratios to the floor, and new connections the mock accepted per
#      1,000 requests;
#   3. added latency (also for the floor) at a fixed rate of half the proxy's max (bench/LoadClient.java, open loop:
#      latency from each request's due time, so no coordinated omission); then what scraping costs: the proxy at max
#      rate without and with a scraper polling /powerproxy/metrics every second, interleaved (bench/scrape-cost.sh);
#   4. what the plugins cost: the proxy with no plugins, with the plugins above, with LimitUsage's budgets in Redis
#      (redis-server on loopback, when installed) and with LogUsageToLogAnalytics added (to the mock's HTTPS Logs
#      Ingestion API), each at the same fixed rate: latency, CPU per request, and every Log Analytics row delivered;
#   4b. LimitUsage's overshoot (bench/overshoot.sh): 200 requests at once against a budget of 2,000 tokens per minute,
#      admission after and reserve, budgets in the proxy and in Redis shared by two replicas: tokens let through;
#   5. streaming: 1,000 and 5,000 concurrent SSE streams (bench/StreamClient.java; events 20 or 500 ms apart): streams/s,
#      time to first event, events lost (must be 0), proxy peak RSS (VmRSS) and heap (jstat); then streams over TLS
#      from bench/h2mock.mjs (Node's http2; skipped without node) through a proxy with connections.http2 on, and one
#      without (bench/streams-h2.sh);
#   6. headroom routing (bench/headroom.sh): two endpoints, the first with a token rate limit enforced as Azure does, a
#      load three times what it admits: the 429s it answers and the clients' latency, headroom off and on, one replica
#      and two sharing through redis-server (about 2.5 min; smoke: 40 s);
# GC pauses (count, total, longest) of every proxy process, from -Xlog:gc,gc+phases; and writes a markdown table
# (medians of the repeats, and ratios to the direct run of the same invocation) and a PNG chart of the latency percentiles (gnuplot). Full mode installs nginx-light, wrk and gnuplot-nox with apt-get when
# missing and running as root. Exit status: 0 when every step worked, 1 when anything failed (proxy did not start or
# did not stop with 0 on SIGTERM, a non-2xx answer, a socket error, a lost event), 2 for a usage error.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# forget_pid, free_port, wait_for_line, cpu_ticks, busy_ticks, children_ticks (shared with bench/soak.sh)
source bench/lib.sh
# measure_overshoot: LimitUsage's admission under 200 concurrent requests
source bench/overshoot.sh
# measure_headroom: step 6, headroom routing against a token rate limit
source bench/headroom.sh
# measure_streams_h2: streams over TLS from bench/h2mock.mjs, with connections.http2 on and off
source bench/streams-h2.sh


log() { printf '==> [%3ss] %s\n' "$(( ($(now_ms) - SECONDS_START) / 1000 ))" "$*" >&2; }
warn() { printf 'bench: WARNING: %s\n' "$*" >&2; WARNINGS+=("$*"); }
FAILURES=()
WARNINGS=()
fail() { printf 'bench: FAILED: %s\n' "$*" >&2; FAILURES+=("$*"); }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
SECONDS_START=$(now_ms)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  if [ "$KEEP" = 1 ]; then
    echo "bench: temp dir kept: $T" >&2
  else
    rm -rf "$T"
  fi
}
wait_for_port() {
  local port=$1 pid=$2 i
  for i in $(seq 1 500); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

ticks_to_s() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }'; }

# --- tools: nginx, wrk, gnuplot ------------------------------------------------------------------------------------
install_tools() {
  local missing=()
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox)
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$INSTALL" != 1 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    warn "not installed: ${missing[*]} (install them, or run as root on Debian/Ubuntu to let this script do it)"
    return 0
  fi
  log "apt-get install ${missing[*]}"
  # A policy-rc.d that says no keeps the nginx package from starting its own service on port 80.
  local policy=/usr/sbin/policy-rc.d made=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; made=1; fi
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      || { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; } \
      >"$T/apt.log" 2>&1 || warn "apt-get install ${missing[*]} failed (see below); going on without"
  [ "$made" = 1 ] && rm -f "$policy"
  tail -3 "$T/apt.log" >&2
}

meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; }

# nginx's worker processes do the work: their CPU is counted, not the master's.
nginx_ticks() {
  local total=0 p
  [ -n "$NGINX_PID" ] || { echo 0; return; }
  for p in $(pgrep -P "$NGINX_PID"); do
    total=$((total + $(cpu_ticks "$p")))
  done
  echo "$total"
}

# --- 3. the proxy's config -----------------------------------------------------------------------------------------
# write_config FILE PLUGINS [TOP]: the three teams, the given plugins (YAML list items, or nothing) and top-level keys,
# and two endpoints (both the mock) with virtual deployments: over CFG_SCHEME (http or https) to the mock's ports
# CFG_PORT1 and CFG_PORT2, with the tuned connection settings when CFG_TUNED is 1, else the original's defaults.
CFG_SCHEME=http CFG_PORT1= CFG_PORT2= CFG_TUNED=1
write_config() {
  local CFG_CONNECTIONS=
  # Sized for thousands of concurrent streams (max_connections); keepalive_expiry below the mock's idle close (the JDK
  # server's 30 s), as it must be below an upstream's.
  [ "$CFG_TUNED" = 1 ] && CFG_CONNECTIONS='      connections:
        limits:
          max_connections: 6000
          max_keepalive_connections: 3000
          keepalive_expiry: 20'
  {
    cat <<EOF
# Written by bench/run.sh: three teams, the usual plugins, two endpoints (both the mock) with virtual deployments.
clients:
  - name: Team A
    description: Chat app, production.
    key: bench-key-team-a-0123456789
    deployments_allowed: gpt-4o, gpt-4o-mini
    max_tokens_per_minute_in_k: 1000000
  - name: Team B
    description: Batch summaries.
    key: bench-key-team-b-0123456789
    deployments_allowed: [gpt-4o, gpt-4o-mini]
    max_tokens_per_minute_in_k:
      gpt-4o: 1000000
      gpt-4o-mini: 1000000
  - name: Team C
    description: Internal tools.
    key: bench-key-team-c-0123456789
    deployments_allowed: gpt-4o
    max_tokens_per_minute_in_k: 1000000

EOF
    if [ -n "$2" ]; then printf '\nplugins:\n%s\n' "$2"; fi
    if [ -n "${3:-}" ]; then printf '\n%s\n' "$3"; fi
    cat <<EOF

aoai:
  endpoints:
    - name: Sweden
      url: $CFG_SCHEME://127.0.0.1:$CFG_PORT1/
      key: upstream-key-sweden-0123456789
      priority: 0
      weight: 1
$CFG_CONNECTIONS
      virtual_deployments:
        - name: gpt-4o
          standins:
            - name: gpt-4o-ptu
            - name: gpt-4o-paygo
        - name: gpt-4o-mini
          standins:
            - name: gpt-4o-mini-2024-07-18
    - name: France
      url: $CFG_SCHEME://127.0.0.1:$CFG_PORT2/
      key: upstream-key-france-0123456789
      priority: 0
      weight: 1
$CFG_CONNECTIONS
      virtual_deployments:
        - name: gpt-4o
          standins:
            - name: gpt-4o-france
EOF
  } >"$1"
}
validate_config() { # $1: file
  if ! "$JAVA" -jar "$JAR" --config-file "$1" --validate >"$T/validate.log" 2>&1; then
    cat "$T/validate.log" >&2
    fail "the benchmark's proxy config $1 is not valid"
    exit 1
  fi
}

# --- start-up time -------------------------------------------------------------------------------------------------
# Starts the proxy with the given JVM flags on a free port; sets STARTED_PID, STARTED_PORT and STARTED_MS (from the
# process start to the "ready" line, read unbuffered from a pipe). Output goes to $2.
start_proxy() { # $1: JVM flags, $2: log file, $3: port, $4: config file (default: the main one)
  local flags=$1 logfile=$2 port=$3 config=${4:-$T/config.yaml} fifo="$T/proxy.fifo.$RANDOM" line t0 t1
  rm -f "$fifo"
  mkfifo "$fifo"
  t0=${EPOCHREALTIME/./}
  # shellcheck disable=SC2086
  "$JAVA" $flags -jar "$JAR" --config-file "$config" --port "$port" >"$fifo" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  STARTED_MS=
  exec 7<"$fifo"
  while IFS= read -r -t 60 line <&7; do
    printf '%s\n' "$line" >>"$logfile"
    case "$line" in
      *"ready on port"*)
        t1=${EPOCHREALTIME/./}
        STARTED_MS=$(( (t1 - t0) / 1000 ))
        break ;;
    esac
  done
  # Keep draining the pipe into the log for the rest of the proxy's life.
  cat <&7 >>"$logfile" &
  exec 7<&-
  rm -f "$fifo"
  [ -n "$STARTED_MS" ]
}

# Stops a proxy with SIGTERM; sets STOP_CODE to its exit status.
stop_proxy() { # $1: pid
  kill -TERM "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  STOP_CODE=$?
  forget_pid "$1"
}

peak_rss() { # $1 $2: window (epoch s); the highest sample in it, kB
  awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 > m { m = $2 } END { print m + 0 }' "$T/rss.log"
}
# Heap in use and committed (kB), from jstat: S0U+S1U+EU+OU and S0C+S1C+EC+OC.
heap_kb() { # $1: pid
  jstat -gc "$1" 2>/dev/null | awk '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    NR == 2 { u = $col["S0U"] + $col["S1U"] + $col["EU"] + $col["OU"]
              c = $col["S0C"] + $col["S1C"] + $col["EC"] + $col["OC"]
              printf "heap_used_kb=%d heap_committed_kb=%d", u, c }'
}

# cpu_begin; ...; cpu_end sets CPU_RESULT to "cpu_mock_s=.. cpu_nginx_s=.. cpu_proxy_s=.. cpu_client_s=.. cpu_other_s=..":
# cpu_proxy_s is TARGET_PID's (a floor, another proxy) when set, else the main proxy's.
# cpu_other_s: what the rest of the machine (other people's work) used meanwhile; wall_s: the run's wall time.
cpu_begin() {
  C0_MOCK=$(cpu_ticks "$MOCK_PID"); C0_NGINX=$(nginx_ticks); C0_PROXY=$(cpu_ticks "${TARGET_PID:-$PROXY_PID}")
  children_ticks; C0_CLIENT=$CHILDREN_TICKS; C0_BUSY=$(busy_ticks); C0_WALL=$(now_ms)
}
# Sets CPU_RESULT (call it directly, not in $(...)).
cpu_end() {
  local mock nginx proxy client busy wall
  mock=$(( $(cpu_ticks "$MOCK_PID") - C0_MOCK )); nginx=$(( $(nginx_ticks) - C0_NGINX ))
  proxy=$(( $(cpu_ticks "${TARGET_PID:-$PROXY_PID}") - C0_PROXY )); children_ticks; client=$(( CHILDREN_TICKS - C0_CLIENT ))
  busy=$(( $(busy_ticks) - C0_BUSY )); wall=$(( $(now_ms) - C0_WALL ))
  CPU_RESULT="cpu_mock_s=$(ticks_to_s "$mock") cpu_nginx_s=$(ticks_to_s "$nginx") cpu_proxy_s=$(ticks_to_s "$proxy") cpu_client_s=$(ticks_to_s "$client") cpu_other_s=$(ticks_to_s $(( busy - mock - nginx - proxy - client < 0 ? 0 : busy - mock - nginx - proxy - client ))) wall_s=$(awk -v w="$wall" 'BEGIN { printf "%.2f", w / 1000 }')"
}

to_ms() { # wrk's "1.23ms" / "456.00us" / "1.20s" -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

# One closed-loop non-streaming run at fixed concurrency; prints "rps=.. p50_ms=.. ..." and returns non-zero on errors.
max_rate_run() { # $1: port, $2: seconds, $3: output file
  local port=$1 secs=$2 out=$3
  if [ -n "$WRK" ]; then
    "$WRK" -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${secs}s" --timeout 10s --latency -s bench/chat.lua \
      "http://127.0.0.1:$port$API_PATH" >"$out" 2>&1
    local rps p50 p90 p99 non2xx errors requests
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    requests=$(awk '/requests in/ {print $1}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p90=$(to_ms "$(awk '$1 == "90%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out"); non2xx=${non2xx:-0}
    errors=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out"); errors=${errors:-0}
    echo "rps=${rps:-0} requests=${requests:-0} p50_ms=$p50 p90_ms=$p90 p99_ms=$p99 non2xx=$non2xx errors=$errors"
    [ -n "$rps" ] && [ "$non2xx" = 0 ] && [ "$errors" = 0 ]
  else
    $TOOL LoadClient --port "$port" --rate 0 --connections "$WRK_CONNECTIONS" --duration-s "$secs" --warmup-s 0.5 \
      --path "$API_PATH" >"$out" 2>&1
    local rc=$?
    tail -1 "$out" | grep '^requests=' || grep -m1 '^requests=' "$out" || echo "rps=0"
    return $rc
  fi
}

# --- proxy variants: what each plugin costs --------------------------------------------------------------------------
# The same proxy with no plugins, with the main run's plugins, with LimitUsage's budgets in Redis (a local
# redis-server with a password, when installed), and with LogUsageToLogAnalytics added (uploading to the mock's HTTPS
# Logs Ingestion API with a managed identity token from the mock): each one its own process, warmed up, then measured
# at the same fixed rate, interleaved, for latency and CPU per request.
mock_stat() { # $1: field of the mock's /stats
  { exec 3<>"/dev/tcp/127.0.0.1/$MOCK_PORT1" && printf 'GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 \
      && cat <&3; } 2>/dev/null | tr -d '\r' | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# "count total_ms longest_ms" of the GC pauses in the given unified GC logs.
gc_pauses() {
  grep -h 'Pause' "$@" 2>/dev/null | sed -n 's/.* \([0-9.]*\)ms$/\1/p' \
    | awk '{ n++; s += $1; if ($1 > m) m = $1 } END { printf "%d %.0f %.2f", n, s, m }'
}

# Whether a run of about $1 seconds still fits in the time budget; warns once per scenario when it does not.
fits() {
  local left=$(( TIME_BUDGET_S - ($(now_ms) - SECONDS_START) / 1000 ))
  if [ "$left" -lt "$1" ]; then
    warn "time budget: skipped $2 (would end after ${TIME_BUDGET_S}s)"
    return 1
  fi
}


# shellcheck source=bench/scrape-cost.sh
. "$ROOT/bench/scrape-cost.sh"

# Ports and pids of the targets by name (direct, nginx, floor, proxy, proxy-tls, ...).
declare -A PORT_OF=() PID_OF=()
TARGET_PID=
NGINX_TLS=0

# --- the steps, in the order main runs them ------------------------------------------------------------------

# Reads the options into MODE, REPEATS, INSTALL, BUILD, OUT and KEEP.
parse_args() {
  MODE=full
  REPEATS=
  INSTALL=1
  BUILD=1
  OUT=
  KEEP=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --smoke) MODE=smoke ;;
      --repeats) REPEATS=$2; shift ;;
      --no-install) INSTALL=0 ;;
      --no-build) BUILD=0 ;;
      --out) OUT=$2; shift ;;
      --keep) KEEP=1 ;;
      -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      *) echo "bench: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
}

# Durations, levels and flags of a full or a smoke run.
choose_settings() {
  if [ "$MODE" = smoke ]; then
    REPEATS=${REPEATS:-1}
    NS_SECONDS=1            # each non-streaming run
    WARMUP_SECONDS=1        # load on the proxy before measuring (others: OTHER_WARMUP_SECONDS)
    OTHER_WARMUP_SECONDS=0
    STREAM_WARMUP=0         # seconds of 200 streams per target before the streaming runs
    FIXED_SECONDS=1
    FIXED_WARMUP=0.3
    STREAM_LEVELS="50:20 50:100"   # concurrent streams:ms between the mock's content events
    STREAM_SECONDS=1
    STREAM_DRAIN=10         # seconds streams still running at the end get to finish (else: unfinished, a failure)
    STARTUP_RUNS=1
    APPCDS=0                # also time start-up with an AppCDS archive
    CHUNKS=10               # content chunks per stream (20 ms apart)
    TIME_BUDGET_S=300       # runs that would start later than this are skipped
    VARIANT_WARMUP=1        # load on each proxy variant before it is measured
    OTHERS_WARMUP=1         # the same for the floors and the TLS and default-config proxies
    VARIANT_REPEATS=1
    VARIANT_SECONDS=1
    INSTALL=0
  else
    REPEATS=${REPEATS:-3}
    NS_SECONDS=5
    WARMUP_SECONDS=30
    OTHER_WARMUP_SECONDS=3
    STREAM_WARMUP=3
    FIXED_SECONDS=5
    FIXED_WARMUP=1
    # Concurrent streams:ms between content events. 5,000 streams at 500 ms are 10,000 events/s, which shows memory
    # and overhead with 5,000 streams open. One run each: three runs of every level do not fit in the 15 minutes. A
    # saturation level (STREAM_LEVELS="1000:20 5000:500 5000:20": 250,000 events/s, more than this kind of machine
    # passes even without a proxy) only on request: it took 50 s that the HTTP/2 and headroom steps need.
    STREAM_LEVELS=${STREAM_LEVELS:-"1000:20 5000:500"}
    STREAM_REPEATS=1
    STREAM_SECONDS=6
    STREAM_DRAIN=30         # a saturated proxy may need that long to end the streams it has
    STARTUP_RUNS=5
    APPCDS=1
    CHUNKS=25
    TIME_BUDGET_S=840       # make bench must end within 15 minutes (the report and stopping take seconds)
    VARIANT_WARMUP=10
    OTHERS_WARMUP=24        # at most this much load on each floor and on the TLS and default-config proxies, until flat
    VARIANT_REPEATS=3
    VARIANT_SECONDS=3
  fi
  EVENT_INTERVAL_MS=20
  RUN_VARIANTS=${RUN_VARIANTS:-1}
  STREAM_REPEATS=${STREAM_REPEATS:-}
  WRK_THREADS=2
  WRK_CONNECTIONS=64
  FIXED_CONNECTIONS=32
  # A 1 GiB heap, committed as needed: 5,000 open streams hold about 300 MB (HttpServer's and HttpClient's buffers
  # per connection), which a 512 MiB heap cannot carry without back-to-back full GCs.
  NGINX_WORKERS=${NGINX_WORKERS:-1}
  TOOL_JVM_FLAGS="-XX:+UseSerialGC -Xms256m -Xmx2g -XX:-UsePerfData"
  API_PATH="/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
}

# The JDK to run everything on: JAVA, JDK_VERSION, JDK_MAJOR.
find_jdk() {
  use_jdk bench
  # The collector the README and the Dockerfile ship: Generational ZGC (its pauses stay well under a millisecond, where
  # Parallel's reached 644 ms with 5,000 streams open). On 21 to 22 it is asked for with -XX:+ZGenerational; 23 makes
  # it ZGC's default and 24 drops the flag (a warning).
  if [ "$JDK_MAJOR" -ge 23 ] 2>/dev/null; then
    PROXY_JVM_FLAGS=${PROXY_JVM_FLAGS:--Xmx1g -XX:+UseZGC}
  else
    PROXY_JVM_FLAGS=${PROXY_JVM_FLAGS:--Xmx1g -XX:+UseZGC -XX:+ZGenerational}
  fi
  # The bench's own addition to every proxy and floor it measures: the GC log, for the pauses in the report.
  GC_LOG_FLAGS="-Xlog:gc,gc+phases=info"
}

# The temp dir T, the list of processes to stop at exit, the open-file limit.
make_temp_dir() {
  T=$(mktemp -d /tmp/powerproxy-bench.XXXXXX)
  PIDS=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  # Raise the open-file limit: 5,000 streams are 10,000+ sockets in the proxy, as many in nginx and the mock.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ] && [ "$MODE" = full ]; then
    warn "open-file limit is $(ulimit -n); 5,000 streams need about 10,500 in the proxy and in nginx"
  fi
}

# The jar (a copy in T) and the bench tools (target/bench-classes).
build() {
  if [ "$BUILD" = 1 ]; then
    log "make jar"
    if ! make -s jar >"$T/build.log" 2>&1; then
      cat "$T/build.log" >&2
      fail "make jar failed"
      exit 1
    fi
  fi
  [ -f target/powerproxy.jar ] || { fail "no target/powerproxy.jar (run make jar)"; exit 1; }
  # A copy: a rebuild of target/ during the run must not pull classes out from under the running proxy.
  JAR="$T/powerproxy.jar"
  cp target/powerproxy.jar "$JAR"
  JAR_BYTES=$(stat -c %s "$JAR")

  # The tools are compiled once into target/bench-classes (again only when a bench/*.java is newer).
  CLASSES="$ROOT/target/bench-classes"
  if [ ! -f "$CLASSES/.stamp" ] || [ -n "$(find bench -name '*.java' -newer "$CLASSES/.stamp" | head -1)" ] \
      || [ "$(cat "$CLASSES/.jdk" 2>/dev/null)" != "$JDK_VERSION" ]; then
    log "javac bench/*.java"
    rm -rf "$CLASSES"
    mkdir -p "$CLASSES"
    touch "$CLASSES/.stamp.new"
    if ! javac -d "$CLASSES" bench/MockAzure.java bench/StreamClient.java bench/LoadClient.java bench/ResponseFraming.java bench/Report.java bench/Floor.java bench/Overshoot.java \
        >"$T/javac.log" 2>&1; then
      cat "$T/javac.log" >&2
      fail "compiling bench/*.java failed"
      exit 1
    fi
    echo "$JDK_VERSION" >"$CLASSES/.jdk"
    mv "$CLASSES/.stamp.new" "$CLASSES/.stamp"
  fi
  TOOL="$JAVA $TOOL_JVM_FLAGS -cp $CLASSES"
}

# nginx, wrk and gnuplot: installed when missing and allowed, else left out with a warning.
find_tools() {
  install_tools
  NGINX=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
  WRK=$(command -v wrk 2>/dev/null || true)
  GNUPLOT=$(command -v gnuplot 2>/dev/null || true)
  [ -n "$NGINX" ] || warn "nginx is not installed: no nginx baseline"
  [ -n "$WRK" ] || log "wrk is not installed: the non-streaming max-rate runs use bench/LoadClient.java --rate 0"
  [ -n "$GNUPLOT" ] || warn "gnuplot is not installed: no PNG chart"
}

# The raw results file and the meta file the report reads.
open_results() {
  RAW="$T/raw.tsv"
  : >"$RAW"
  META="$T/meta.env"
  : >"$META"
}

# The mock upstream and its test certificate.
start_mock() {
  MOCK_PORT1=$(free_port)
  MOCK_PORT2=$(free_port)
  # The same API over HTTPS (the certificate below), as Azure serves it: for the TLS rows.
  MOCK_TLS_PORT1=$(free_port)
  MOCK_TLS_PORT2=$(free_port)
  # The mock also plays the Logs Ingestion API, over HTTPS with a certificate made here, for the LogUsageToLogAnalytics
  # variant; the proxy of that variant trusts it through a trust store of its own.
  INGEST_PORT=$(free_port)
  KEYSTORE="$T/bench-tls.p12"
  if ! "$JAVA_HOME/bin/keytool" -genkeypair -alias bench -keyalg EC -groupname secp256r1 -storetype PKCS12 \
      -keystore "$KEYSTORE" -storepass changeit -keypass changeit -dname CN=localhost \
      -ext SAN=dns:localhost,ip:127.0.0.1 -validity 2 >"$T/keytool.log" 2>&1 \
    || ! "$JAVA_HOME/bin/keytool" -exportcert -alias bench -keystore "$KEYSTORE" -storepass changeit -file "$T/bench.cer" \
      >>"$T/keytool.log" 2>&1 \
    || ! "$JAVA_HOME/bin/keytool" -importcert -noprompt -alias bench -file "$T/bench.cer" -storetype PKCS12 \
      -keystore "$T/bench-trust.p12" -storepass changeit >>"$T/keytool.log" 2>&1; then
    cat "$T/keytool.log" >&2
    fail "keytool could not make the test certificate"
    exit 1
  fi
  log "mock upstream on ports $MOCK_PORT1 and $MOCK_PORT2 ($CHUNKS content chunks, $EVENT_INTERVAL_MS ms apart), Logs Ingestion on $INGEST_PORT"
  $TOOL -Dsun.net.httpserver.nodelay=true MockAzure --port "$MOCK_PORT1" --port "$MOCK_PORT2" \
    --event-interval-ms "$EVENT_INTERVAL_MS" --chunks "$CHUNKS" \
    --tls-port "$MOCK_TLS_PORT1" --tls-port "$MOCK_TLS_PORT2" --ingest-port "$INGEST_PORT" --keystore "$KEYSTORE" --keystore-password changeit >"$T/mock.log" 2>&1 &
  MOCK_PID=$!
  PIDS+=("$MOCK_PID")
  if ! wait_for_line "$T/mock.log" "ingestion ready on port $INGEST_PORT" "$MOCK_PID" 30; then
    cat "$T/mock.log" >&2
    fail "the mock upstream did not start"
    exit 1
  fi
  # Events a client sees per stream: prompt filter, role, content chunks, finish, [DONE] (the proxy asks the mock for a
  # usage chunk and drops it, as the client did not ask for one).
  EXPECT_EVENTS=$((CHUNKS + 4))
}

# nginx in front of the mock, when installed.
start_nginx() {
  NGINX_PID=
  NGINX_PORT=
  NGINX_VERSION=
  if [ -n "$NGINX" ]; then
    NGINX_PORT=$(free_port)
    NGINX_TLS_PORT=$(free_port)
    NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
    mkdir -p "$T/nginx/tmp" "$T/nginx/logs"
    sed -e "s#@DIR@#$T/nginx#g" -e "s#@PORT@#$NGINX_PORT#g" -e "s#@MOCK_PORT@#$MOCK_PORT1#g" \
        -e "s#@TLS_PORT@#$NGINX_TLS_PORT#g" -e "s#@MOCK_TLS_PORT@#$MOCK_TLS_PORT1#g" \
        -e "s#@WORKERS@#$NGINX_WORKERS#g" bench/nginx.conf.in >"$T/nginx/nginx.conf"
    if ! "$NGINX" -t -q -p "$T/nginx" -c "$T/nginx/nginx.conf" >"$T/nginx/test.log" 2>&1; then
      # This build lacks some of the optional modules whose temp paths the template sets.
      sed -i '/@OPTIONAL@/d' "$T/nginx/nginx.conf"
    fi
    NGINX_TLS=1
    if ! "$NGINX" -t -q -p "$T/nginx" -c "$T/nginx/nginx.conf" >"$T/nginx/test.log" 2>&1; then
      # Built without the SSL module: no nginx TLS row.
      sed -i '/@TLS@/d' "$T/nginx/nginx.conf"
      NGINX_TLS=0
      warn "this nginx cannot proxy to TLS upstreams: no nginx TLS row"
    fi
    if "$NGINX" -t -q -p "$T/nginx" -c "$T/nginx/nginx.conf" >"$T/nginx/test.log" 2>&1; then
      log "nginx $NGINX_VERSION on port $NGINX_PORT (worker_processes $NGINX_WORKERS, upstream keepalive)"
      "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" >"$T/nginx/stdout.log" 2>&1 &
      NGINX_PID=$!
      PIDS+=("$NGINX_PID")
      if ! wait_for_port "$NGINX_PORT" "$NGINX_PID"; then
        cat "$T/nginx/error.log" >&2 2>/dev/null
        warn "nginx did not start; no nginx baseline"
        NGINX_PID=
      fi
    else
      cat "$T/nginx/test.log" >&2
      warn "nginx rejected the benchmark's config; no nginx baseline"
    fi
  fi
}

# The proxy config of the main run.
write_configs() {
  CFG_SCHEME=http CFG_PORT1=$MOCK_PORT1 CFG_PORT2=$MOCK_PORT2 CFG_TUNED=1
  BASE_PLUGINS="  - name: AllowDeployments
  - name: LimitUsage"
  CSV_PLUGIN_YAML="  - name: LogUsageToCsvFile
    log_dir: $T/usage"
  write_config "$T/config.yaml" "$BASE_PLUGINS
$CSV_PLUGIN_YAML"
  validate_config "$T/config.yaml"
  CSV_PLUGIN=1
  PLUGINS="AllowDeployments, LimitUsage, LogUsageToCsvFile"
}

# Process start to the "ready" line, without and with an AppCDS archive.
measure_startup() {
  log "start-up: $STARTUP_RUNS runs (process start to the \"ready\" line)"
  for i in $(seq 1 "$STARTUP_RUNS"); do
    if start_proxy "$PROXY_JVM_FLAGS" "$T/startup-$i.log" 0; then
      stop_proxy "$STARTED_PID"
      record startup proxy "$i" "ready_ms=$STARTED_MS exit=$STOP_CODE"
      [ "$STOP_CODE" = 0 ] || fail "start-up run $i: the proxy exited with $STOP_CODE on SIGTERM (expected 0)"
    else
      kill "$STARTED_PID" 2>/dev/null
      tail -20 "$T/startup-$i.log" >&2
      fail "start-up run $i: the proxy did not get ready"
    fi
  done
  # The same with an AppCDS archive (JDK 19+: -XX:+AutoCreateSharedArchive), made by a first run that is not counted.
  if [ "$APPCDS" = 1 ] && [ "$JDK_MAJOR" -ge 19 ] 2>/dev/null; then
    CDS_FLAGS="-XX:+AutoCreateSharedArchive -XX:SharedArchiveFile=$T/powerproxy.jsa"
    if start_proxy "$PROXY_JVM_FLAGS $CDS_FLAGS" "$T/startup-cds-0.log" 0; then
      stop_proxy "$STARTED_PID"
      for i in $(seq 1 "$(( STARTUP_RUNS < 3 ? STARTUP_RUNS : 3 ))"); do
        if start_proxy "$PROXY_JVM_FLAGS $CDS_FLAGS" "$T/startup-cds-$i.log" 0; then
          stop_proxy "$STARTED_PID"
          record startup proxy-appcds "$i" "ready_ms=$STARTED_MS exit=$STOP_CODE"
        fi
      done
    fi
  fi
}

# The proxy every later step measures, with its GC log and an RSS sampler.
start_proxy_under_test() {
  PROXY_PORT=$(free_port)
  log "proxy on port $PROXY_PORT ($PROXY_JVM_FLAGS; plugins: $PLUGINS)"
  # The GC log is the bench's own addition (pauses go into the report), not a recommended flag.
  if ! start_proxy "$PROXY_JVM_FLAGS $GC_LOG_FLAGS:file=$T/proxy-gc.log" "$T/proxy.log" "$PROXY_PORT"; then
    tail -30 "$T/proxy.log" >&2
    fail "the proxy did not start"
    exit 1
  fi
  PROXY_PID=$STARTED_PID
  record startup proxy-under-test 1 "ready_ms=$STARTED_MS exit=0"
  RSS_AFTER_START=$(awk '/^VmRSS/ {print $2}' "/proc/$PROXY_PID/status")

  sample_rss "$PROXY_PID" "$T/rss.log"
  PIDS+=("$SAMPLER_PID")
}

# Samples a process's VmRSS (kB) every 0.2 s into a file, "<epoch s> <kB>" lines, in the background until the process
# ends. $1: pid, $2: file. Sets SAMPLER_PID.
sample_rss() {
  local pid=$1
  (
    while [ -r "/proc/$pid/status" ]; do
      while read -r key value _; do
        if [ "$key" = "VmRSS:" ]; then echo "$EPOCHREALTIME $value"; break; fi
      done <"/proc/$pid/status"
      sleep 0.2
    done
  ) >"$2" 2>/dev/null &
  SAMPLER_PID=$!
}

# The targets of the load runs and their ports.
# TARGETS: the streaming runs'; FIXED_TARGETS add the floor; NS_TARGETS (max rate) add the TLS and default-config rows.
choose_targets() {
  PORT_OF[direct]=$MOCK_PORT1
  PORT_OF[proxy]=$PROXY_PORT
  TARGETS=(direct)
  if [ -n "$NGINX_PID" ]; then PORT_OF[nginx]=$NGINX_PORT; TARGETS+=(nginx); fi
  TARGETS+=(proxy)
  FIXED_TARGETS=("${TARGETS[@]}")
  NS_TARGETS=("${TARGETS[@]}")
  local t
  for t in floor proxy-defaults; do
    [ -n "${PID_OF[$t]:-}" ] && NS_TARGETS+=("$t")
  done
  [ -n "${PID_OF[floor]:-}" ] && FIXED_TARGETS+=(floor)
  if [ -n "$NGINX_PID" ] && [ "$NGINX_TLS" = 1 ]; then PORT_OF[nginx-tls]=$NGINX_TLS_PORT; NS_TARGETS+=(nginx-tls); fi
  for t in floor-tls proxy-tls proxy-defaults-tls; do
    [ -n "${PID_OF[$t]:-}" ] && NS_TARGETS+=("$t")
  done
}

# The other processes the max-rate runs compare: the floor (bench/Floor.java, the same JDK classes with nothing of
# ours) and the proxy with the original's default connection settings, each over plain HTTP and over TLS to the mock,
# and the tuned proxy over TLS. Each gets the proxy's JVM flags; the TLS ones trust the mock's certificate.
start_others() {
  local trust="-Djavax.net.ssl.trustStore=$T/bench-trust.p12 -Djavax.net.ssl.trustStorePassword=changeit" t port
  for t in floor floor-tls; do
    port=$(free_port)
    local upstream="http://127.0.0.1:$MOCK_PORT1" flags="$PROXY_JVM_FLAGS $GC_LOG_FLAGS:file=$T/$t-gc.log"
    [ "$t" = floor-tls ] && upstream="https://127.0.0.1:$MOCK_TLS_PORT1" flags="$flags $trust"
    # shellcheck disable=SC2086
    "$JAVA" $flags -cp "$CLASSES" Floor --port "$port" --upstream "$upstream" >"$T/$t.log" 2>&1 &
    PID_OF[$t]=$!
    PIDS+=("$!")
    if wait_for_line "$T/$t.log" "floor ready on port $port" "${PID_OF[$t]}" 30; then
      PORT_OF[$t]=$port
    else
      cat "$T/$t.log" >&2
      fail "the $t relay did not start"
      unset "PID_OF[$t]"
    fi
  done
  for t in proxy-tls proxy-defaults proxy-defaults-tls; do
    CFG_SCHEME=http CFG_PORT1=$MOCK_PORT1 CFG_PORT2=$MOCK_PORT2 CFG_TUNED=1
    case "$t" in *tls) CFG_SCHEME=https CFG_PORT1=$MOCK_TLS_PORT1 CFG_PORT2=$MOCK_TLS_PORT2 ;; esac
    case "$t" in proxy-defaults*) CFG_TUNED=0 ;; esac
    write_config "$T/config-$t.yaml" "$BASE_PLUGINS
  - name: LogUsageToCsvFile
    log_dir: $T/usage-$t"
    validate_config "$T/config-$t.yaml"
    port=$(free_port)
    if start_proxy "$PROXY_JVM_FLAGS $GC_LOG_FLAGS:file=$T/$t-gc.log $trust" "$T/proxy-$t.log" "$port" \
        "$T/config-$t.yaml"; then
      PID_OF[$t]=$STARTED_PID
      PORT_OF[$t]=$port
    else
      tail -20 "$T/proxy-$t.log" >&2
      fail "the $t proxy did not start"
    fi
  done
  CFG_SCHEME=http CFG_PORT1=$MOCK_PORT1 CFG_PORT2=$MOCK_PORT2 CFG_TUNED=1
  log "floor and other proxies: $(for t in "${!PID_OF[@]}"; do printf '%s on %s, ' "$t" "${PORT_OF[$t]}"; done)"
}

# Load on one JVM target in rounds of 4 s until its rate stops rising (two rounds without 5% more than the best), at
# most $3 s: the JIT's C2 takes a while on a busy 2-core machine. Sets WARM_RATES (the rate of each round).
# $1: target name, $2: port, $3: at most this many seconds.
warm_until_flat() {
  local name=$1 port=$2 max_s=$3 start best=0 flat=0 round=0 secs rate
  WARM_ROUND_S=4
  WARM_RATES=
  start=$(now_ms)
  while :; do
    round=$((round + 1))
    secs=4; [ "$max_s" -lt 4 ] && secs=$max_s
    WARM_ROUND_S=$secs
    max_rate_run "$port" "$secs" "$T/warmup-$name-$round.txt" >"$T/warmup-$name-$round.kv" \
      || fail "warm-up against $name had errors: $(tr '\n' ' ' <"$T/warmup-$name-$round.txt" | tail -c 300)"
    rate=$(grep -o '\brps=[0-9]*' "$T/warmup-$name-$round.kv" | head -1 | cut -d= -f2); rate=${rate:-0}
    WARM_RATES="$WARM_RATES $rate"
    if [ "$rate" -gt $((best * 105 / 100)) ]; then flat=0; else flat=$((flat + 1)); fi
    [ "$rate" -gt "$best" ] && best=$rate
    [ "$flat" -ge 2 ] && break
    [ $(( ($(now_ms) - start) / 1000 + secs )) -gt "$max_s" ] && break
  done
  WARM_RATES=${WARM_RATES# }
}

# The mock and nginx for a few seconds; every JVM (the proxy, the floors, the TLS and default-config proxies) until
# its rate stops rising, so that each is measured warm: a ratio between a warm proxy and a half-warm floor says little.
warm_up() {
  log "warm-up: ${OTHER_WARMUP_SECONDS}s on the mock and nginx; each JVM until its rate is stable (the proxy at most ${WARMUP_SECONDS}s, the others ${OTHERS_WARMUP}s)"
  for target in "${TARGETS[@]}"; do
    [ "$target" = proxy ] && continue
    [ "$OTHER_WARMUP_SECONDS" = 0 ] && continue
    max_rate_run "${PORT_OF[$target]}" "$OTHER_WARMUP_SECONDS" "$T/warmup-$target.txt" >/dev/null \
      || fail "warm-up against $target had errors: $(tr '\n' ' ' <"$T/warmup-$target.txt" | tail -c 300)"
  done
  local t
  for t in floor floor-tls proxy-tls proxy-defaults proxy-defaults-tls; do
    [ -n "${PID_OF[$t]:-}" ] || continue
    warm_until_flat "$t" "${PORT_OF[$t]}" "$OTHERS_WARMUP"
    log "    $t req/s during warm-up: $WARM_RATES"
    meta "warmup_rates_$t" "$WARM_RATES"
  done
  warm_until_flat proxy "$PROXY_PORT" "$WARMUP_SECONDS"
  log "    proxy req/s during warm-up: $WARM_RATES"
  meta warmup_rates "$WARM_RATES"
  meta warmup_round_s "$WARM_ROUND_S"
  # Seconds of load until the end of the first round at 90% or more of the best round's rate (the JIT's warm-up).
  meta warmup_to_90_s "$(echo "$WARM_RATES" | awk -v s="$WARM_ROUND_S" '{ for (i = 1; i <= NF; i++) if ($i > m) m = $i
    for (i = 1; i <= NF; i++) if ($i >= 0.9 * m) { print i * s; exit } }')"
}

# Non-streaming chat at fixed concurrency, every target, interleaved.
measure_max_rate() {
  log "non-streaming chat, closed loop, $WRK_CONNECTIONS connections, ${NS_SECONDS}s x $REPEATS"
  for rep in $(seq 1 "$REPEATS"); do
    for target in "${NS_TARGETS[@]}"; do
      TARGET_PID=${PID_OF[$target]:-}
      conns0=$(mock_stat connections)
      # The count again after the run's first second: the connections opened after that are the steady state's (each
      # run starts cold, as the ones of the last run were idle longer than keepalive_expiry or the mock's 30 s).
      rm -f "$T/conns-steady"
      ( sleep 1; mock_stat connections >"$T/conns-steady" ) &
      steady_pid=$!
      cpu_begin
      max_rate_run "${PORT_OF[$target]}" "$NS_SECONDS" "$T/ns-$target-$rep.txt" >"$T/result.txt"
      rc=$?
      cpu_end
      TARGET_PID=
      wait "$steady_pid"
      conns1=$(mock_stat connections)
      # New connections the mock accepted during the run (for direct: the load client's own).
      result="$(cat "$T/result.txt") $CPU_RESULT upstream_conns=$(( conns1 - conns0 ))"
      if [ "$NS_SECONDS" -ge 3 ] && [ -s "$T/conns-steady" ]; then
        result="$result upstream_conns_steady=$(( conns1 - $(cat "$T/conns-steady") )) steady_share=$(awk \
          -v d="$NS_SECONDS" 'BEGIN { printf "%.3f", (d - 1) / d }')"
      fi
      record ns "$target" "$rep" "$result"
      printf '    %-18s #%s %s\n' "$target" "$rep" "$result" >&2
      [ "$rc" = 0 ] || fail "non-streaming run against $target (#$rep) had errors or non-2xx answers: $result"
    done
  done
}

# Latency at a fixed rate of half the proxy's max.
measure_fixed_rate() {
  PROXY_MAX=$(awk -F'\t' '$1 == "ns" && $2 == "proxy" { split($4, kv, " "); for (i in kv) if (kv[i] ~ /^rps=/) print substr(kv[i], 5) }' "$RAW" \
    | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print 0 }')
  FIXED_RATE=$(awk -v m="$PROXY_MAX" 'BEGIN { r = int(m / 2 / 100) * 100; if (r < 100) r = 100; print r }')
  log "fixed rate: $FIXED_RATE req/s (half of the proxy's median max of $PROXY_MAX), $FIXED_CONNECTIONS connections, ${FIXED_SECONDS}s x $REPEATS"
  for rep in $(seq 1 "$REPEATS"); do
    for target in "${FIXED_TARGETS[@]}"; do
      TARGET_PID=${PID_OF[$target]:-}
      cpu_begin
      $TOOL LoadClient --port "${PORT_OF[$target]}" --rate "$FIXED_RATE" --connections "$FIXED_CONNECTIONS" \
        --duration-s "$FIXED_SECONDS" --warmup-s "$FIXED_WARMUP" --path "$API_PATH" >"$T/fixed-$target-$rep.txt" 2>&1
      rc=$?
      cpu_end
      TARGET_PID=
      result="$(grep -m1 '^requests=' "$T/fixed-$target-$rep.txt") $CPU_RESULT"
      record fixed "$target" "$rep" "$result"
      printf '    %-6s #%s %s\n' "$target" "$rep" "$result" >&2
      [ "$rc" = 0 ] || fail "fixed-rate run against $target (#$rep) failed: $(tr '\n' ' ' <"$T/fixed-$target-$rep.txt" | tail -c 400)"
    done
  done
}

# What each plugin costs: proxy variants at one fixed rate.
measure_variants() {
  declare -gA VARIANT_PID=() VARIANT_PLUGINS=()
  VARIANTS=(proxy-bare proxy)
  VARIANT_PLUGINS[proxy-bare]="none"
  VARIANT_PLUGINS[proxy]="$PLUGINS"
  REDIS_PID=
  if [ "$RUN_VARIANTS" = 1 ]; then
    REDIS_SERVER=$(command -v redis-server 2>/dev/null || true)
    if [ -n "$REDIS_SERVER" ]; then
      REDIS_PORT=$(free_port)
      "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --requirepass bench-redis-password --save "" \
        --appendonly no --daemonize no >"$T/redis.log" 2>&1 &
      REDIS_PID=$!
      PIDS+=("$REDIS_PID")
      if wait_for_port "$REDIS_PORT" "$REDIS_PID"; then
        write_config "$T/config-redis.yaml" "  - name: AllowDeployments
  - name: LimitUsage
    redis:
      redis_host: 127.0.0.1
      redis_port: $REDIS_PORT
      redis_ssl: false
      redis_password: bench-redis-password
  - name: LogUsageToCsvFile
    log_dir: $T/usage-redis"
        validate_config "$T/config-redis.yaml"
        VARIANTS+=(proxy-redis)
        VARIANT_PLUGINS[proxy-redis]="$PLUGINS; LimitUsage's budgets in Redis $("$REDIS_SERVER" --version | awk '{sub("v=", "", $3); print $3}')"
      else
        warn "redis-server did not start: no Redis variant"
      fi
    else
      warn "redis-server is not installed: no Redis variant"
    fi
    write_config "$T/config-bare.yaml" ""
    validate_config "$T/config-bare.yaml"
    # Each variant its own CSV folder: processes appending to one file would overwrite each other's rows, and the
    # report counts the main proxy's rows against its access lines.
    write_config "$T/config-la.yaml" "$BASE_PLUGINS
  - name: LogUsageToCsvFile
    log_dir: $T/usage-la
  - name: LogUsageToLogAnalytics
    log_ingestion_endpoint: https://127.0.0.1:$INGEST_PORT
    data_collection_rule_id: dcr-00000000000000000000000000000000
    log_dir: $T/la" "user_assigned_managed_identity_client_id: 00000000-0000-0000-0000-000000000000"
    validate_config "$T/config-la.yaml"
    VARIANTS+=(proxy-la)
    VARIANT_PLUGINS[proxy-la]="$PLUGINS, LogUsageToLogAnalytics"
    VARIANT_PID[proxy]=$PROXY_PID
    for v in "${VARIANTS[@]}"; do
      [ "$v" = proxy ] && continue
      port=$(free_port)
      flags="$PROXY_JVM_FLAGS $GC_LOG_FLAGS:file=$T/proxy-$v-gc.log"
      config="$T/config-${v#proxy-}.yaml"
      if [ "$v" = proxy-la ]; then
        flags="$flags -Djavax.net.ssl.trustStore=$T/bench-trust.p12 -Djavax.net.ssl.trustStorePassword=changeit"
        export IDENTITY_ENDPOINT="http://127.0.0.1:$MOCK_PORT1/msi/token" IDENTITY_HEADER=bench-identity-header
      fi
      if ! start_proxy "$flags" "$T/proxy-$v.log" "$port" "$config"; then
        tail -20 "$T/proxy-$v.log" >&2
        fail "the $v variant did not start"
        unset IDENTITY_ENDPOINT IDENTITY_HEADER
        continue
      fi
      unset IDENTITY_ENDPOINT IDENTITY_HEADER
      VARIANT_PID[$v]=$STARTED_PID
      PORT_OF[$v]=$port
    done
    # Half the main fixed rate: the variants have had less warm-up (the JIT on a busy 2-core machine is slow), and a rate
    # one of them cannot keep up with would measure its queue, not its cost.
    VARIANT_RATE=$(( FIXED_RATE / 2 < 100 ? 100 : FIXED_RATE / 2 ))
    meta variant_rate "$VARIANT_RATE"
    meta variant_seconds "$VARIANT_SECONDS"
    meta variant_repeats "$VARIANT_REPEATS"
    log "proxy variants: ${!VARIANT_PID[*]}; warm-up ${VARIANT_WARMUP}s each, then ${VARIANT_RATE} req/s for ${VARIANT_SECONDS}s x $VARIANT_REPEATS"
    for v in "${VARIANTS[@]}"; do
      [ -n "${VARIANT_PID[$v]:-}" ] && [ "$v" != proxy ] || continue
      max_rate_run "${PORT_OF[$v]}" "$VARIANT_WARMUP" "$T/warmup-$v.txt" >/dev/null \
        || fail "warm-up against $v had errors: $(tr '\n' ' ' <"$T/warmup-$v.txt" | tail -c 300)"
    done
    MAIN_PROXY_PID=$PROXY_PID
    for rep in $(seq 1 "$VARIANT_REPEATS"); do
      for v in "${VARIANTS[@]}"; do
        [ -n "${VARIANT_PID[$v]:-}" ] || continue
        PROXY_PID=${VARIANT_PID[$v]}
        cpu_begin
        $TOOL LoadClient --port "${PORT_OF[$v]}" --rate "$VARIANT_RATE" --connections "$FIXED_CONNECTIONS" \
          --duration-s "$VARIANT_SECONDS" --warmup-s "$FIXED_WARMUP" --path "$API_PATH" >"$T/variant-$v-$rep.txt" 2>&1
        rc=$?
        cpu_end
        result="$(grep -m1 '^requests=' "$T/variant-$v-$rep.txt") $CPU_RESULT"
        record variants "$v" "$rep" "$result"
        printf '    %-11s #%s %s\n' "$v" "$rep" "$result" >&2
        [ "$rc" = 0 ] || fail "fixed-rate run against $v (#$rep) failed: $(tr '\n' ' ' <"$T/variant-$v-$rep.txt" | tail -c 400)"
      done
    done
    PROXY_PID=$MAIN_PROXY_PID
    for v in "${VARIANTS[@]}"; do
      [ -n "${VARIANT_PID[$v]:-}" ] && [ "$v" != proxy ] || continue
      stop_proxy "${VARIANT_PID[$v]}"
      [ "$STOP_CODE" = 0 ] || fail "the $v variant exited with $STOP_CODE on SIGTERM (expected 0)"
      if grep -q ' ERROR ' "$T/proxy-$v.log"; then
        grep -m5 ' ERROR ' "$T/proxy-$v.log" >&2
        fail "the $v variant logged ERROR lines"
      fi
    done
    if [ -n "${VARIANT_PID[proxy-la]:-}" ]; then
      # Every answered request of that proxy is one row at the mock once it stopped (it flushes at SIGTERM).
      la_requests=$(grep -c ' access - ' "$T/proxy-proxy-la.log")
      la_rows=$(mock_stat rows)
      la_uploads=$(mock_stat uploads)
      meta la_requests "$la_requests"
      meta la_rows "$la_rows"
      meta la_uploads "$la_uploads"
      meta la_spooled "$(grep -c 'spool' "$T/proxy-proxy-la.log")"
      log "    Log Analytics: $la_rows rows in $la_uploads uploads for $la_requests requests"
      [ "$la_rows" = "$la_requests" ] || fail "Log Analytics got $la_rows rows for $la_requests requests"
    fi
    for v in "${VARIANTS[@]}"; do
      meta "variant_plugins_$v" "${VARIANT_PLUGINS[$v]}"
    done
    meta variants "${VARIANTS[*]}"
  fi
}

# A few seconds of streams on every target.
warm_up_streams() {
  if [ "$STREAM_WARMUP" != 0 ]; then
    log "streaming warm-up: ${STREAM_WARMUP}s of 200 streams per target"
    for target in "${TARGETS[@]}"; do
      $TOOL StreamClient --port "${PORT_OF[$target]}" --streams 200 --duration-s "$STREAM_WARMUP" --ramp-s 0.5 \
        --expect-events "$EXPECT_EVENTS" --path "$API_PATH" >"$T/stream-warmup-$target.txt" 2>&1 \
        || fail "streaming warm-up against $target failed: $(tr '\n' ' ' <"$T/stream-warmup-$target.txt" | tail -c 400)"
    done
  fi
}

# Concurrent SSE streams at each level.
measure_streams() {
  STREAM_REPEATS=${STREAM_REPEATS:-$REPEATS}
  for level in $STREAM_LEVELS; do
    streams=${level%%:*}
    gap=${level##*:}
    ramp=$(awk -v n="$streams" 'BEGIN { r = n / 1250; if (r < 0.2) r = 0.2; print r }')
    # A stream lasts CHUNKS x gap; the ones that start at the end of the window need that long to finish.
    finish=$(awk -v c="$CHUNKS" -v g="$gap" 'BEGIN { printf "%d", c * g / 1000 + 4 }')
    log "streaming: $streams concurrent streams, content events ${gap} ms apart, ${STREAM_SECONDS}s after a ${ramp}s ramp, x $STREAM_REPEATS"
    for rep in $(seq 1 "$STREAM_REPEATS"); do
      # Each run: ramp, window, a few seconds to finish (the proxy's may take the whole drain time) and JVM start.
      need=$(awk -v n="${#TARGETS[@]}" -v r="$ramp" -v d="$STREAM_SECONDS" -v f="$finish" 'BEGIN { printf "%d", n * (r + d + f) }')
      fits "$need" "$streams streams ${gap} ms apart, repeats $rep to $STREAM_REPEATS" || break
      for target in "${TARGETS[@]}"; do
        out="$T/stream-$streams-$gap-$target-$rep.txt"
        cpu_begin
        t_start=$EPOCHREALTIME
        heap_file="$T/heap-$streams-$gap-$target-$rep.txt"
        : >"$heap_file"
        if [ "$target" = proxy ]; then
          # Heap in the middle of the measured window.
          ( sleep "$(awk -v r="$ramp" -v d="$STREAM_SECONDS" 'BEGIN { print r + d / 2 }')"; heap_kb "$PROXY_PID" >"$heap_file" ) &
          heap_pid=$!
        fi
        $TOOL StreamClient --port "${PORT_OF[$target]}" --streams "$streams" --duration-s "$STREAM_SECONDS" \
          --ramp-s "$ramp" --drain-s "$STREAM_DRAIN" --expect-events "$EXPECT_EVENTS" --path "$API_PATH" \
          --event-interval-ms "$gap" >"$out" 2>&1
        rc=$?
        t_end=$EPOCHREALTIME
        cpu_end
        result="$(grep -m1 '^streams=' "$out") $CPU_RESULT"
        if [ "$target" = proxy ]; then
          wait "$heap_pid" 2>/dev/null
          result="$result rss_peak_kb=$(peak_rss "$t_start" "$t_end") $(cat "$heap_file")"
        fi
        record "stream-$streams-$gap" "$target" "$rep" "$result"
        printf '    %-6s #%s %s\n' "$target" "$rep" "$result" >&2
        [ "$rc" = 0 ] || fail "$streams streams ${gap} ms apart against $target (#$rep): errors, non-2xx, lost events or unfinished streams: $(tr '\n' ' ' <"$out" | tail -c 400)"
      done
    done
  done
}

# Stops the main proxy and checks its log and usage rows.
stop_proxy_under_test() {
  RSS_PEAK=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$T/rss.log")
  HEAP_END=$(heap_kb "$PROXY_PID")
  stop_proxy "$PROXY_PID"
  [ "$STOP_CODE" = 0 ] || fail "the proxy exited with $STOP_CODE on SIGTERM (expected 0)"
  PROXY_ERRORS=$(grep -c ' ERROR ' "$T/proxy.log")
  PROXY_WARNS=$(grep -c ' WARN ' "$T/proxy.log")
  ACCESS_LINES=$(grep -c ' access - ' "$T/proxy.log")
  NON200_ACCESS=$(grep ' access - ' "$T/proxy.log" | grep -vc ' status=200 ')
  [ "$PROXY_ERRORS" = 0 ] || { grep -m5 ' ERROR ' "$T/proxy.log" >&2; fail "the proxy logged $PROXY_ERRORS ERROR lines"; }
  [ "$NON200_ACCESS" = 0 ] || { grep ' access - ' "$T/proxy.log" | grep -v ' status=200 ' | head -5 >&2; fail "the proxy's access log has $NON200_ACCESS answers other than 200"; }
  local t code main_stop_code=$STOP_CODE
  for t in "${!PID_OF[@]}"; do
    stop_proxy "${PID_OF[$t]}"
    code=$STOP_CODE
    # A floor ends on SIGTERM as any JVM does (143); a proxy must exit with 0.
    case "$t" in
      floor*) [ "$code" = 143 ] || [ "$code" = 0 ] || fail "the $t relay exited with $code on SIGTERM" ;;
      *) [ "$code" = 0 ] || fail "the $t proxy exited with $code on SIGTERM (expected 0)"
         if grep -q ' ERROR ' "$T/proxy-$t.log"; then
           grep -m5 ' ERROR ' "$T/proxy-$t.log" >&2
           fail "the $t proxy logged ERROR lines"
         fi ;;
    esac
  done
  STOP_CODE=$main_stop_code
  USAGE_ROWS=0
  if [ "$CSV_PLUGIN" = 1 ]; then
    # Every line but each file's header row.
    USAGE_ROWS=$(( $(cat "$T"/usage/*.csv 2>/dev/null | wc -l) - $(ls "$T"/usage/*.csv 2>/dev/null | wc -l) ))
  fi
}

# The markdown report, the chart and the raw results.
write_report() {
  CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  CORES=$(nproc)
  DATE=$(date -u +%Y-%m-%d)
  meta date "$DATE"
  meta load_start "$LOAD_START"
  meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
  meta time_utc "$(date -u +%H:%M)"
  meta mode "$MODE"
  meta cores "$CORES"
  meta cpu "$CPU_MODEL"
  meta mem "$(free -h | awk '/^Mem:/ {print $2}')"
  meta kernel "$(uname -r)"
  meta os "$(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}")"
  meta jdk "$JDK_VERSION"
  meta proxy_flags "$PROXY_JVM_FLAGS"
  meta tool_flags "$TOOL_JVM_FLAGS"
  meta plugins "$PLUGINS"
  meta csv_plugin "$CSV_PLUGIN"
  meta nginx "${NGINX_PID:+$NGINX_VERSION}"
  meta nginx_workers "$NGINX_WORKERS"
  meta wrk "$([ -n "$WRK" ] && "$WRK" -v 2>&1 | awk 'NR == 1 {print $2}')"
  meta load_tool "$([ -n "$WRK" ] && echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS --latency" || echo "LoadClient --rate 0 --connections $WRK_CONNECTIONS")"
  meta repeats "$REPEATS"
  meta ns_seconds "$NS_SECONDS"
  meta fixed_seconds "$FIXED_SECONDS"
  meta fixed_rate "$FIXED_RATE"
  meta fixed_connections "$FIXED_CONNECTIONS"
  meta stream_seconds "$STREAM_SECONDS"
  meta stream_repeats "$STREAM_REPEATS"
  meta chunks "$CHUNKS"
  meta event_interval_ms "$EVENT_INTERVAL_MS"
  meta expect_events "$EXPECT_EVENTS"
  meta jar_bytes "$JAR_BYTES"
  meta rss_after_start_kb "$RSS_AFTER_START"
  meta rss_peak_kb "$RSS_PEAK"
  meta heap_end "$HEAP_END"
  meta proxy_error_lines "$PROXY_ERRORS"
  meta proxy_warn_lines "$PROXY_WARNS"
  meta access_lines "$ACCESS_LINES"
  meta usage_rows "$USAGE_ROWS"
  meta stop_code "$STOP_CODE"
  meta stream_drain "$STREAM_DRAIN"
  # GC pauses of the proxy over the whole run: count, total and longest (ms), from the unified GC log.
  meta gc_pauses_all "$(gc_pauses "$T"/proxy*-gc.log)"
  meta gc_pauses_floor "$(gc_pauses "$T"/floor*-gc.log)"
  meta gc_pauses "$(gc_pauses "$T/proxy-gc.log")"
  meta failures "${#FAILURES[@]}"
  meta elapsed_s "$(( ($(now_ms) - SECONDS_START) / 1000 ))"

  if [ "$MODE" = smoke ]; then OUT=${OUT:-$T/results}; else OUT=${OUT:-$ROOT/bench/results}; fi
  mkdir -p "$OUT"
  JDK_TAG=$JDK_MAJOR
  BASE="$DATE-${CORES}cores-jdk$JDK_TAG$([ "$MODE" = smoke ] && echo -smoke)"
  CHART="$OUT/$BASE.png"
  if ! $TOOL Report "$RAW" "$META" "$OUT/$BASE.md" "$T/chart" "$BASE.png" >"$T/report.log" 2>&1; then
    cat "$T/report.log" >&2
    fail "the report could not be made"
  else
    if [ -n "$GNUPLOT" ]; then
      if ! "$GNUPLOT" -e "datadir='$T/chart'; out='$CHART'; heading='$(head -1 "$T/chart/title.txt")'" bench/chart.gp \
          >"$T/gnuplot.log" 2>&1; then
        cat "$T/gnuplot.log" >&2
        warn "gnuplot failed: no chart"
        CHART=
      fi
    else
      CHART=
    fi
    if [ -z "$CHART" ]; then sed -i '/^!\[latency chart\]/d' "$OUT/$BASE.md"; fi
    [ -f "$T/headroom.md" ] && cat "$T/headroom.md" >>"$OUT/$BASE.md"
    if [ ${#WARNINGS[@]} -gt 0 ] || [ ${#FAILURES[@]} -gt 0 ]; then
      {
        echo
        for w in "${WARNINGS[@]}"; do echo "- warning: $w"; done
        for f in "${FAILURES[@]}"; do echo "- **FAILED**: $f"; done
      } >>"$OUT/$BASE.md"
    fi
    echo
    cat "$OUT/$BASE.md"
    echo
    log "results: $OUT/$BASE.md${CHART:+ and $CHART}"
  fi
  cp "$RAW" "$OUT/$BASE.raw.tsv" 2>/dev/null
  [ "$MODE" = smoke ] && [ "$KEEP" = 0 ] && rm -f "$OUT/$BASE.raw.tsv"
}

# The exit status: 1 when any step failed.
finish() {
  log "done in $(( ($(now_ms) - SECONDS_START) / 1000 )) s"
  if [ ${#FAILURES[@]} -gt 0 ]; then
    echo "bench: ${#FAILURES[@]} failure(s):" >&2
    printf '  - %s\n' "${FAILURES[@]}" >&2
    exit 1
  fi
  exit 0
}

main() {
  parse_args "$@"
  choose_settings
  find_jdk
  make_temp_dir
  build
  find_tools
  open_results
  start_mock
  start_nginx
  write_configs
  measure_startup
  start_proxy_under_test
  start_others
  choose_targets
  warm_up
  measure_max_rate
  measure_fixed_rate
  measure_scrape_cost
  measure_variants
  measure_overshoot
  warm_up_streams
  measure_streams
  measure_streams_h2
  stop_proxy_under_test
  measure_headroom
  write_report
  finish
}

main "$@"
