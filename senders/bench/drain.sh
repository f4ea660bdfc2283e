#!/bin/bash
# Times `fmn send --channel email` (the file sender) draining a queue on Redis, for two
# builds alternating (docs/benchmarks.md, "Senders in batches").
#
#   KEPT=DIR BASE=path/to/fmn-before NEW=path/to/fmn PORT=6391 ROUNDS=3 senders/bench/drain.sh
#
# KEPT is the --keep directory of a `fmn bench pipeline` run: its out/email.jsonl is queued
# again before each run (the delivery ledger emptied: FLUSHALL, so use a Redis of its own).
set -u
here=$(dirname "$0")
PORT=${PORT:-6391}; NS=senderbench; KEY=$NS:out:email; ROUNDS=${ROUNDS:-3}
redis_pid=$(redis-cli -p "$PORT" INFO server | awk -F: '/^process_id/{print $2}' | tr -d '\r')
for r in $(seq 1 "$ROUNDS"); do
  for b in BASE NEW; do
    bin=${!b}
    redis-cli -p "$PORT" FLUSHALL >/dev/null
    python3 "$here/fill.py" "$KEPT/out/email.jsonl" "$PORT" "$KEY"
    redis-cli -p "$PORT" XGROUP CREATE "$KEY" senders 0 >/dev/null
    n=$(redis-cli -p "$PORT" XLEN "$KEY")
    out=$(mktemp -d)
    load=$(cut -d' ' -f1 /proc/loadavg)
    rcpu0=$(ps -o times= -p "$redis_pid")
    start=$(date +%s.%N)
    # The file sender is configured through the environment: `fmn send` has no fallback.
    FMN__REDIS__NAMESPACE=$NS FMN__SENDERS__EMAIL__BACKEND=file \
      FMN__SENDERS__EMAIL__PATH="$out/email.jsonl" \
      "$bin" send --channel email --redis "redis://127.0.0.1:$PORT" --consumer bench \
      >/dev/null 2>&1 &
    pid=$!
    while true; do
      left=$(redis-cli -p "$PORT" XINFO GROUPS "$KEY" | awk 'p{print; exit} /^lag$/{p=1}')
      pend=$(redis-cli -p "$PORT" XPENDING "$KEY" senders | head -1)
      [ "$left" = "0" ] && [ "$pend" = "0" ] && break
      sleep 0.05
    done
    end=$(date +%s.%N)
    cpu=$(awk '{printf "%.1f", ($14+$15)/100}' "/proc/$pid/stat")
    rcpu1=$(ps -o times= -p "$redis_pid")
    kill "$pid"; wait "$pid" 2>/dev/null
    lines=$(wc -l < "$out/email.jsonl"); rm -rf "$out"
    echo "round $r $b: $n notifications, $lines lines written, $(echo "$end - $start" | bc) s," \
      "$(echo "$n / ($end - $start)" | bc) /s, load $load, fmn send CPU ${cpu} s," \
      "redis CPU $((rcpu1 - rcpu0)) s"
  done
done
