#!/usr/bin/env bash
# What observability costs: GET /users/{id} throughput of one build with
# metrics, tracing and the access log switched off, against the same build
# with the defaults (all on), and with every span exported to an OTLP/HTTP
# collector. One run, variants interleaved, medians of the repetitions.
#
# Usage: bash bench/observability.sh [--duration 10s] [--reps 3] [options]
# See --help. Results: stdout and bench/results/observability-latest.md.
set -euo pipefail

BENCH_SCRIPT=observability.sh
BENCH_LOG_TAG=obs
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: bash bench/observability.sh [options]

  --duration D       wrk duration per measured run (default 10s)
  --connections N    wrk connections (default 64)
  --threads N        wrk threads (default 2)
  --reps N           interleaved repetitions per variant; medians are reported (default 3)
  --users N          users seeded (default 100000)
  --mitos PATH       Mitos binary (default build/mitos, relative to the repo root)
  -h, --help         this text

Variants, all the same binary and data:
  off      --set metrics.enabled=false --set tracing.enabled=false --set log.access=false
  on       the defaults: metrics, spans (no collector configured), one
           access-log line per request written to a file
  export   the defaults plus every span exported (100% sampling) to an
           OTLP/HTTP collector endpoint (nginx answering 200)
  export10 the same with 10% of new traces sampled (tracing.sample_percent=10)

Needs: wrk, nginx (Debian nginx-light), sqlite3, jq, curl; apt-get installs
whichever is missing. Builds nothing: build the Mitos binary first.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
RESULTS_DIR="$BENCH/results"
CMDLINE="bash bench/observability.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

DURATION=10s
CONNS=64
THREADS=2
REPS=3
USERS=100000
MITOS_ARG=build/mitos
while (($#)); do
  case "$1" in
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --connections) CONNS="${2:?--connections needs a value}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a value}"; shift 2 ;;
    --reps) REPS="${2:?--reps needs a value}"; shift 2 ;;
    --users) USERS="${2:?--users needs a value}"; shift 2 ;;
    --mitos) MITOS_ARG="${2:?--mitos needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "observability.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps takes a positive number, got '$REPS'"
[[ "$USERS" =~ ^[1-9][0-9]*$ ]] || die "--users takes a positive number, got '$USERS'"

log "command: $CMDLINE"
MITOS="$(resolve_mitos "$MITOS_ARG")"
need_cmd wrk
need_cmd sqlite3
need_cmd jq
need_cmd curl
NGINX="$(resolve_nginx)"
while IFS= read -r v; do
  [[ "$v" == MITOS_* || "$v" == OTEL_* ]] && { log "ignoring $v from the environment"; unset "$v"; }
done < <(compgen -e)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mitos-obs.XXXXXX")"
MITOS_PID=""
NGINX_PID=""
stop_pids() {
  local p
  for p in "$@"; do [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do [[ -n "$p" ]] && { wait "$p"; } 2>/dev/null || true; done
}
stop_all() { stop_pids "$WRK_PID" "$MITOS_PID" "$NGINX_PID"; }
install_traps
open_sleep_fd

# The collector stand-in: nginx reads each export request and answers 200,
# so the exporter does all its work (encode, send, wait for the answer).
OTLP_PORT="$(free_port)"
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
user_line=""
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
cat >"$WORK/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp;
  client_max_body_size 64m;
  client_body_buffer_size 4m;
  server {
    listen 127.0.0.1:$OTLP_PORT;
    location = /v1/traces {
      if (\$request_method != POST) { return 405; }
      default_type application/json;
      return 200 '{}';
    }
  }
}
EOF
"$NGINX" -t -q -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" >&2 ||
  die "nginx -t rejected the collector config"
"$NGINX" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 200); do port_in_use "$OTLP_PORT" && break; nap 0.01; done
port_in_use "$OTLP_PORT" || die "the collector stand-in did not start"

PORT="$(free_port "$OTLP_PORT")"
DATA="$WORK/data"
mkdir -p "$DATA"

variant_args() { # variant_args VARIANT -> ARGS
  ARGS=("$MITOS" --host 127.0.0.1 --port "$PORT" --data-dir "$DATA" --modules=users
        --log-level info --set shutdown.drain_delay_ms=0)
  case "$1" in
    off) ARGS+=(--set metrics.enabled=false --set tracing.enabled=false --set log.access=false) ;;
    on) ;;
    export) ARGS+=(--set "tracing.endpoint=http://127.0.0.1:$OTLP_PORT/v1/traces"
                   --set tracing.sample_percent=100) ;;
    export10) ARGS+=(--set "tracing.endpoint=http://127.0.0.1:$OTLP_PORT/v1/traces"
                     --set tracing.sample_percent=10) ;;
  esac
}

start_variant() { # start_variant VARIANT
  variant_args "$1"
  "${ARGS[@]}" >>"$WORK/$1.log" 2>&1 &
  MITOS_PID=$!
  for _ in $(seq 3000); do
    http_status "$PORT" /readyz 2>/dev/null || true
    [[ "$HTTP_CODE" == 200 ]] && return 0
    kill -0 "$MITOS_PID" 2>/dev/null || { tail -20 "$WORK/$1.log" >&2; die "$1: exited during start"; }
    nap 0.01
  done
  die "$1: not ready"
}
stop_variant() { stop_pids "$MITOS_PID"; MITOS_PID=""; }

start_variant off
stop_variant
seed_users "$DATA/users.db" users "$USERS"
log "seeded $USERS users"

ROWS="$WORK/rows.tsv"
: >"$ROWS"
declare -A ACCESS=()
VARIANTS=(off on export export10)
for rep in $(seq "$REPS"); do
  for v in "${VARIANTS[@]}"; do
    start_variant "$v"
    out="$WORK/wrk-$v-$rep.txt"
    wrk_run "$CONNS" 2s "$out.warm" -s "$BENCH/wrk/get_user.lua" "http://127.0.0.1:$PORT" -- "$USERS" ||
      die "wrk warm-up failed"
    wrk_run "$CONNS" "$DURATION" "$out" -s "$BENCH/wrk/get_user.lua" "http://127.0.0.1:$PORT" -- "$USERS" ||
      { cat "$out" >&2; die "wrk failed"; }
    wrk_check "$out"
    read -r rps p50 p99 errs < <(wrk_fields "$out" rps p50_ms p99_ms errors)
    exported=""
    if [[ "$v" == export* ]]; then
      exported="$(curl -fsS "http://127.0.0.1:$PORT/metrics" |
        awk '$1 == "mitos_trace_spans_exported_total" { print $2 }')"
      dropped="$(curl -fsS "http://127.0.0.1:$PORT/metrics" |
        awk '$1 ~ /^mitos_trace_spans_dropped_total/ { s += $2 } END { print s + 0 }')"
      exported="$exported exported, $dropped dropped"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$rep" "$rps" "$p50" "$p99" "$errs" "$exported" >>"$ROWS"
    log "$v rep $rep: $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $errs ${exported:+(spans: $exported)}"
    stop_variant
    # Keep the disk small: count the access lines, then drop the log.
    ACCESS[$v]=$(( ${ACCESS[$v]:-0} + $(grep -c '"msg":"request"' "$WORK/$v.log" || true) ))
    : >"$WORK/$v.log"
  done
done

med() { awk -F'\t' -v v="$1" -v c="$2" '$1 == v { print $c }' "$ROWS" | median %.1f; }
OFF="$(med off 3)"; ON="$(med on 3)"; EXP="$(med export 3)"; EXP10="$(med export10 3)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (1 - a / b) * 100 }'; }
COST_ON="$(ratio "$ON" "$OFF")"
COST_EXP="$(ratio "$EXP" "$OFF")"
COST_EXP10="$(ratio "$EXP10" "$OFF")"

mkdir -p "$RESULTS_DIR"
REPORT="$RESULTS_DIR/observability-latest.md"
{
  echo "# Observability overhead: GET /users/{id}"
  echo
  echo "Command: \`$CMDLINE\`  "
  echo "Machine: $(nproc) cores; wrk -t$THREADS -c$CONNS -d$DURATION; $USERS users; medians of $REPS interleaved runs."
  echo
  echo "| variant | req/s (median) | p50 ms | p99 ms | cost vs off |"
  echo "|---|---:|---:|---:|---:|"
  echo "| off | $OFF | $(med off 4) | $(med off 5) | - |"
  echo "| on (defaults) | $ON | $(med on 4) | $(med on 5) | ${COST_ON}% |"
  echo "| on + OTLP export of every span | $EXP | $(med export 4) | $(med export 5) | ${COST_EXP}% |"
  echo "| on + OTLP export, 10% of traces | $EXP10 | $(med export10 4) | $(med export10 5) | ${COST_EXP10}% |"
  echo
  echo "Access-log lines written: off ${ACCESS[off]}, on ${ACCESS[on]}, export ${ACCESS[export]}, export10 ${ACCESS[export10]} (warm-ups included)."
  echo
  echo "Per run:"
  echo
  echo "| variant | rep | req/s | p50 ms | p99 ms | errors | spans |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$ROWS"
} >"$REPORT"
cat "$REPORT"
