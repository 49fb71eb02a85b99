# shellcheck shell=bash
# Helpers bench/run.sh and bench/soak.sh share; sourced by both. The caller sets T (its temp dir) and PIDS (the
# processes its cleanup stops) before calling any of them.

# A process that has been waited for is dropped from the list, so that cleanup never signals a reused pid.
forget_pid() {
  local keep=() pid
  for pid in "${PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  PIDS=("${keep[@]}")
}

# A port nothing on this machine uses, below the kernel's ephemeral range: a port from that range can be the local end
# of any outgoing connection (a CI run once lost the mock's second port that way), and probing with a connect only
# sees listeners. Ports handed out before are never handed out again (the list lives in a file, as each call runs in
# a subshell).
read -r EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LOW=32768
if [ "$EPHEMERAL_LOW" -lt 12000 ]; then EPHEMERAL_LOW=32768; fi
free_port() {
  local port given="$T/ports-given"
  touch "$given"
  while :; do
    port=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
    if grep -qx "$port" "$given"; then continue; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    if command -v ss >/dev/null && [ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then continue; fi
    echo "$port" >>"$given"
    echo "$port"
    return
  done
}

# Waits until FILE has a line matching PATTERN (or the process PID ended, or TIMEOUT s passed).
wait_for_line() {
  local file=$1 pattern=$2 pid=$3 timeout=$4 waited=0
  while ! grep -q -- "$pattern" "$file" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$waited" -lt $((timeout * 50)) ] || return 1
    sleep 0.02
    waited=$((waited + 1))
  done
}

CLK_TCK=$(getconf CLK_TCK)
# CPU time (user+system, in clock ticks) a process has used so far; 0 when there is no such process.
cpu_ticks() {
  local stat
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  # fields after "(comm) ": state is 1, utime is 12, stime is 13
  # shellcheck disable=SC2086
  set -- $stat
  echo $(( ${12} + ${13} ))
}
# Busy CPU ticks of the whole machine (all cores) so far, from /proc/stat.
busy_ticks() {
  local cpu user nice system idle iowait irq softirq steal _
  read -r cpu user nice system idle iowait irq softirq steal _ </proc/stat
  echo $((user + nice + system + irq + softirq + steal))
}
# CPU ticks used so far by this shell's waited-for children (the load clients): from the builtin `times`, which must
# run in this shell (not in a $(...) subshell), so this is called directly and sets CHILDREN_TICKS.
children_ticks() {
  local line u s
  times >"$T/times.txt"
  line=$(tail -1 "$T/times.txt")
  u=${line%% *}; s=${line##* }
  CHILDREN_TICKS=$(awk -v u="$u" -v s="$s" -v hz="$CLK_TCK" '
    function sec(x, m) { m = x; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", x); sub(/s$/, "", x); return m * 60 + x }
    BEGIN { printf "%d", (sec(u) + sec(s)) * hz }')
}

# The JDK to run everything on (JAVA_HOME, then the usual install folders, as the Makefile finds it): sets JAVA,
# JDK_VERSION and JDK_MAJOR, or ends the script naming the caller ($1) when there is none.
use_jdk() {
  if ! JDK=$(JAVA_HOME=${JAVA_HOME:-} .ci/find-jdk 2>/dev/null); then
    echo "$1: no JDK 21 or newer found (.ci/find-jdk --verbose tells why)" >&2
    exit 1
  fi
  export JAVA_HOME=$JDK
  export PATH="$JAVA_HOME/bin:$PATH"
  JAVA="$JAVA_HOME/bin/java"
  JDK_VERSION=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.runtime.version = //p')
  JDK_MAJOR=${JDK_VERSION%%.*}; JDK_MAJOR=${JDK_MAJOR%%+*}
}
