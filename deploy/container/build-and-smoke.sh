#!/usr/bin/env bash
# Builds the container image with podman and smoke-tests it: liveness, one chat request against the demo
# config's mock, no shell in the image, `podman stop` ending with exit code 0; then liveness and a chat request
# over HTTPS (--tls-cert/--tls-key, a certificate made by openssl). Prints the image size, the build
# time, start-to-ready and stop time.
#
# No container registry is needed: the Dockerfile's base images are replaced by two local ones, built once
# and kept (tagged by the inputs they are made of, so a new JDK or glibc makes new ones):
#   localhost/powerproxy-build-base    busybox (static) + this machine's JDK + Maven
#   localhost/powerproxy-runtime-base  FROM scratch + the glibc libraries the JDK links against + /tmp
# With a registry at hand, `docker build .` uses the public bases named in the Dockerfile instead.
#
# Usage: deploy/container/build-and-smoke.sh [--keep]   (--keep leaves the image; it is always left, the
# container is always removed). Environment: IMAGE (default localhost/powerproxy:smoke), CONTAINERS_CONF.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-localhost/powerproxy:smoke}
NAME=powerproxy-smoke-$$
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/container/containers.conf}

log() { printf '==> %s\n' "$*"; }
die() { printf 'build-and-smoke: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }

command -v podman >/dev/null || die "podman is missing (apt-get install --no-install-recommends podman runc)"
command -v curl >/dev/null || die "curl is missing"
JDK=$(.ci/find-jdk) || die "no JDK 21 or newer (see .ci/find-jdk)"
MAVEN_HOME_HOST=$(dirname "$(dirname "$(readlink -f "$(command -v mvn)")")")

work=$(mktemp -d)
cleanup() {
  podman rm -f -t 0 "$NAME" "$NAME-tls" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# ---- local base images (idempotent: skipped when the tag exists) ------------------------------------
jdk_version=$(sed -n 's/^JAVA_RUNTIME_VERSION="\(.*\)"/\1/p' "$JDK/release" | tr '+' '_')
mvn_version=$(mvn -B --version 2>/dev/null | sed -n '1s/.*Maven \([0-9][0-9.]*\).*/\1/p')
glibc_version=$(ldd --version | sed -n '1s/.* //p')
build_base=localhost/powerproxy-build-base:jdk${jdk_version}-maven${mvn_version}
runtime_base=localhost/powerproxy-runtime-base:glibc${glibc_version}

# The glibc libraries that the JDK's launcher and its native libraries load, copied into the folder $1.
copy_glibc() {
  local lib libs
  libs=$( { ldd "$JDK/bin/java"; find "$JDK/lib" -name '*.so' -exec ldd {} \; ; } 2>/dev/null \
    | grep -o '/[^ ]*\.so[^ ]*' | grep -v "^$JDK" | sort -u)
  for lib in $libs; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libgcc_s.so*|libz.so*) ;;
      *) continue ;;  # X11, ALSA, fonts: only the desktop modules' optional parts load them
    esac
    mkdir -p "$1$(dirname "$lib")"
    cp -L "$lib" "$1$lib"
  done
}

if ! podman image exists "$build_base"; then
  log "making $build_base"
  command -v busybox >/dev/null || die "busybox is missing (apt-get install busybox-static)"
  root=$work/build-root
  mkdir -p "$root/bin" "$root/opt" "$root/tmp" "$root/root" "$root/etc"
  chmod 1777 "$root/tmp"
  cp "$(readlink -f "$(command -v busybox)")" "$root/bin/busybox"
  for tool in $(busybox --list | grep -vx busybox); do ln -sf busybox "$root/bin/$tool"; done
  # -L: the JDK's lib/security/cacerts and Debian Maven's lib/*.jar are symlinks into /etc and /usr/share/java.
  cp -rL "$JDK" "$root/opt/java"
  cp -rL "$MAVEN_HOME_HOST" "$root/opt/maven"
  copy_glibc "$root"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  tar -C "$root" -cf "$work/build-root.tar" .
  # Maven 3.8/3.9's Guava warns about sun.misc.Unsafe on JDK 24+; the flag that silences it exists from 23 on.
  maven_opts=()
  if [ "${jdk_version%%[._]*}" -ge 23 ]; then
    maven_opts=(--change 'ENV MAVEN_OPTS=--sun-misc-unsafe-memory-access=allow')
  fi
  podman import -q \
    --change 'ENV PATH=/opt/java/bin:/opt/maven/bin:/bin' --change 'ENV JAVA_HOME=/opt/java' \
    --change 'ENV MAVEN_HOME=/opt/maven' --change 'CMD ["/bin/sh"]' "${maven_opts[@]}" \
    "$work/build-root.tar" "$build_base" >/dev/null
  rm -rf "$root" "$work/build-root.tar"
fi

if ! podman image exists "$runtime_base"; then
  log "making $runtime_base"
  root=$work/runtime-root
  mkdir -p "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  copy_glibc "$root"
  printf 'root:x:0:0:root:/root:/sbin/nologin\npowerproxy:x:10001:10001:powerproxy:/app:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\npowerproxy:x:10001:\n' >"$root/etc/group"
  tar -C "$root" -cf "$work/runtime-root.tar" .
  podman import -q "$work/runtime-root.tar" "$runtime_base" >/dev/null
  rm -rf "$root" "$work/runtime-root.tar"
fi

# ---- the image ------------------------------------------------------------------------------------
m2=()
# Podman can mount a folder at build time: the host's Maven cache spares the build stage the downloads.
if [ -d "$HOME/.m2/repository" ]; then m2=(-v "$HOME/.m2:/root/.m2"); fi
log "podman build $IMAGE"
t0=$(now_ms)
podman build -q --build-arg BUILD_IMAGE="$build_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  "${m2[@]}" -t "$IMAGE" . >/dev/null
build_ms=$(( $(now_ms) - t0 ))
size_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")

[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] \
  || die "the image does not run as 10001:10001"
if podman run --rm --entrypoint /bin/sh "$IMAGE" -c true >/dev/null 2>&1; then
  die "the image has a shell (/bin/sh); the runtime base should have none"
fi

# ---- run, as Kubernetes would: read-only root, no capabilities, a tmpfs for /tmp ------------------
# A build on JDK 25 or newer made an AOT cache: -XX:AOTMode=on makes the JVM fail instead of running without it,
# so this run proves the image's cache is valid for the image's runtime and jar.
aot=()
if [ "${jdk_version%%[._]*}" -ge 25 ]; then aot=(-e JAVA_TOOL_OPTIONS=-XX:AOTMode=on); fi
log "podman run (demo config, mock upstream${aot:+, AOT cache required})"
t0=$(now_ms)
podman run -d --name "$NAME" --read-only --tmpfs /tmp --tmpfs /app/logs:mode=1777 \
  --cap-drop ALL --security-opt no-new-privileges -p 127.0.0.1::8080 "${aot[@]}" \
  -e POWERPROXY_CONFIG_STRING="$(cat config/demo.yaml)" "$IMAGE" >/dev/null
port=$(podman port "$NAME" 8080/tcp | sed 's/.*://')
base=http://127.0.0.1:$port
deadline=$(( $(now_ms) + 60000 ))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/powerproxy/health/liveness" || true)" = 204 ]; do
  if [ "$(now_ms)" -gt "$deadline" ]; then podman logs "$NAME" >&2; die "no liveness 204 within 60 s"; fi
  if [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" != true ]; then
    podman logs "$NAME" >&2; die "the container ended before it was live"
  fi
  sleep 0.1
done
ready_ms=$(( $(now_ms) - t0 ))

readiness=$(curl -s -o /dev/null -w '%{http_code}' "$base/powerproxy/health/readiness")
[ "$readiness" = 204 ] || die "readiness answered $readiness, expected 204"
answer=$(curl -s -w '\n%{http_code}' "$base/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21" \
  -H 'api-key: demo-key-team-1-change-me' -H 'content-type: application/json' \
  -d '{"messages":[{"role":"user","content":"Hello"}]}')
status=${answer##*$'\n'}
[ "$status" = 200 ] || { podman logs "$NAME" >&2; die "chat answered $status: ${answer%$'\n'*}"; }
grep -q "Hello from PowerProxy's built-in mock" <<<"$answer" || die "chat answer is not the mock's: $answer"
wrong=$(curl -s -o /dev/null -w '%{http_code}' "$base/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21" \
  -H 'api-key: wrong' -H 'content-type: application/json' -d '{"messages":[]}')
[ "$wrong" = 401 ] || die "a wrong key answered $wrong, expected 401"

log "podman stop"
t0=$(now_ms)
podman stop -t 30 "$NAME" >/dev/null
stop_ms=$(( $(now_ms) - t0 ))
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$exit_code" = 0 ] || { podman logs "$NAME" >&2; die "the proxy exited with $exit_code after SIGTERM, expected 0"; }
[ "$stop_ms" -lt 10000 ] || die "podman stop took $stop_ms ms: SIGTERM did not stop the proxy (podman killed it?)"
podman logs "$NAME" 2>&1 | grep -q 'stopped' || die "the log has no 'stopped' line"

jvm_ready=$(podman logs "$NAME" 2>&1 | sed -n 's/.*ready on port [0-9]* (\([0-9]*\) ms.*/\1/p')

# ---- HTTPS: the same image with --tls-cert/--tls-key (the jlink'd runtime must speak TLS) --------------------
if command -v openssl >/dev/null; then
  log "podman run with --tls-cert/--tls-key"
  mkdir -p "$work/tls"
  openssl req -x509 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" 2>/dev/null
  chmod 644 "$work/tls/key.pem"
  podman run -d --name "$NAME-tls" --read-only --tmpfs /tmp --cap-drop ALL -v "$work/tls:/tls:ro" \
    -p 127.0.0.1::8080 -e POWERPROXY_CONFIG_STRING="$(cat config/demo.yaml)" "$IMAGE" \
    --tls-cert /tls/cert.pem --tls-key /tls/key.pem >/dev/null
  tls_port=$(podman port "$NAME-tls" 8080/tcp | sed 's/.*://')
  https=(curl -s --cacert "$work/tls/cert.pem")
  deadline=$(( $(now_ms) + 60000 ))
  until [ "$("${https[@]}" -o /dev/null -w '%{http_code}' "https://localhost:$tls_port/powerproxy/health/liveness" || true)" = 204 ]; do
    if [ "$(now_ms)" -gt "$deadline" ]; then podman logs "$NAME-tls" >&2; die "no liveness 204 over HTTPS within 60 s"; fi
    sleep 0.1
  done
  status=$("${https[@]}" -o /dev/null -w '%{http_code}' \
    "https://localhost:$tls_port/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21" \
    -H 'api-key: demo-key-team-1-change-me' -H 'content-type: application/json' -d '{"messages":[]}')
  [ "$status" = 200 ] || { podman logs "$NAME-tls" >&2; die "chat over HTTPS answered $status"; }
  podman stop -t 30 "$NAME-tls" >/dev/null
  [ "$(podman inspect --format '{{.State.ExitCode}}' "$NAME-tls")" = 0 ] || die "the HTTPS proxy did not exit with 0"
fi
printf 'image %s: %s MB; build %s s; podman run to liveness 204 %s ms (the proxy logged ready after %s ms);'\
' podman stop %s ms (exit 0); load average %s\n' \
  "$IMAGE" "$(( size_bytes / 1000000 ))" "$(awk "BEGIN{printf \"%.1f\", $build_ms/1000}")" "$ready_ms" \
  "${jvm_ready:-?}" "$stop_ms" "$(cut -d' ' -f1 /proc/loadavg)"
