# shellcheck shell=bash
# LimitUsage's overshoot, a step of bench/run.sh (sourced by it; uses its log, warn, fail, record, start_proxy,
# stop_proxy, free_port and wait_for_port): 200 requests at once against a budget of 2,000 tokens per minute, each
# asking max_tokens 92 for "Hi" (8 + 92 = 100 tokens held with admission: reserve) and answered, after 500 ms, by the
# proxy's mock_response with a usage of exactly 100 tokens. For admission after and reserve, each with the budget in
# the proxy (one replica) and in Redis (two replicas sharing one redis-server, when installed): the tokens of the
# requests let through against the budget. With reserve the overshoot must be 0 or less, or the step fails.
OVERSHOOT_BUDGET_K=2
OVERSHOOT_REQUESTS=200

overshoot_config() { # $1: file, $2: admission, $3: Redis port or empty, $4: client key, $5: client name
  {
    cat <<EOC
# Written by bench/overshoot.sh: one client with a small budget, LimitUsage, and the mock upstream.
clients:
  - name: $5
    key: $4
    max_tokens_per_minute_in_k: $OVERSHOOT_BUDGET_K
plugins:
  - name: LimitUsage
    admission: $2
EOC
    if [ -n "$3" ]; then
      printf '    redis: {redis_host: 127.0.0.1, redis_port: %s, redis_ssl: false, redis_timeout_ms: 5000}\n' "$3"
    fi
    cat <<'EOC'
aoai:
  mock_response:
    ms_to_wait_before_return: 500
    json: {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
           "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}],
           "usage": {"prompt_tokens": 8, "completion_tokens": 92, "total_tokens": 100}}
EOC
  } >"$1"
}

measure_overshoot() {
  log "LimitUsage overshoot: $OVERSHOOT_REQUESTS requests at once against $((OVERSHOOT_BUDGET_K * 1000)) tokens per minute"
  local redis_port="" redis_pid="" redis_server variant admission store replicas i port result key
  local -a ports pids
  redis_server=$(command -v redis-server 2>/dev/null || true)
  if [ -n "$redis_server" ]; then
    redis_port=$(free_port)
    "$redis_server" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$T/overshoot-redis.log" 2>&1 &
    redis_pid=$!
    PIDS+=("$redis_pid")
    if ! wait_for_port "$redis_port" "$redis_pid"; then
      warn "redis-server did not start: no Redis rows in the overshoot step"
      redis_pid=""
    fi
  else
    warn "redis-server is not installed: no Redis rows in the overshoot step"
  fi
  for variant in after-local reserve-local after-redis reserve-redis; do
    admission=${variant%-*} store=${variant#*-}
    if [ "$store" = redis ] && [ -z "$redis_pid" ]; then continue; fi
    replicas=1
    [ "$store" = redis ] && replicas=2
    # A client of its own per variant, so that no variant finds another's tokens in Redis.
    key="bench-overshoot-$variant-0123456789"
    overshoot_config "$T/overshoot-$variant.yaml" "$admission" "$([ "$store" = redis ] && echo "$redis_port")" "$key" \
      "Overshoot $variant"
    ports=() pids=()
    for i in $(seq 1 "$replicas"); do
      port=$(free_port)
      if start_proxy "$PROXY_JVM_FLAGS" "$T/overshoot-$variant-$i.log" "$port" "$T/overshoot-$variant.yaml"; then
        ports+=("$port") pids+=("$STARTED_PID")
      else
        tail -20 "$T/overshoot-$variant-$i.log" >&2
        fail "overshoot $variant: proxy $i did not start"
      fi
    done
    if [ ${#ports[@]} = "$replicas" ]; then
      result=$($TOOL Overshoot --ports "$(IFS=,; echo "${ports[*]}")" --key "$key" \
        --budget $((OVERSHOOT_BUDGET_K * 1000)) --requests "$OVERSHOOT_REQUESTS" --max-tokens 92 2>"$T/overshoot-$variant.err")
      log "  $variant ($replicas replica$([ "$replicas" = 2 ] && echo s)): ${result:-no result}"
      record overshoot "$variant" 1 "$result replicas=$replicas"
      case "$result" in
        *" failed=0 "*) ;;
        *) cat "$T/overshoot-$variant.err" >&2; fail "overshoot $variant: requests failed or no result ($result)" ;;
      esac
      if [ "$admission" = reserve ] && [ "${result##*overshoot=}" -gt 0 ] 2>/dev/null; then
        fail "overshoot $variant: admission reserve let ${result##*overshoot=} tokens over the budget through"
      fi
    fi
    for i in "${pids[@]}"; do stop_proxy "$i"; done
  done
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
    forget_pid "$redis_pid"
  fi
}
