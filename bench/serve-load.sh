#!/usr/bin/env bash
# The load benchmark of `finsam serve` (issue 15): a fresh demo store, a kansli user, the server
# on the loopback, and finsam-load at 1, 8, 64 and 256 writing clients (each recording single
# events with its own idempotency keys), then 64 writers with 8 readers of the balances; three
# runs of each, the median printed. The baseline: `finsam record` of single events, one process
# each, three runs of 100 on a fresh demo store. Release build; run it on an otherwise idle machine.
#   bench/serve-load.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
cargo build --release --bins >/dev/null 2>&1
bin=target/release
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
export FINSAM_KEY_FILE="$work/key"
"$bin/finsam" --store "$work/store" demo >/dev/null
token=$("$bin/finsam" --store "$work/store" --format json user add load --role kansli --forbund sf-vastmanland --by bench \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# The baseline first, on a demo store of its own (the same size as the server's at its start).
"$bin/finsam" --store "$work/cli" demo >/dev/null
for run in 1 2 3; do
  start=$(date +%s.%N)
  for i in $(seq 1 100); do
    echo "{\"type\":\"ContributionReceived\",\"forbund\":\"sf-vastmanland\",\"date\":\"2024-12-20\",\"member\":\"sala\",\"year\":2024,\"amount\":\"1\",\"reference\":\"cli $run $i\",\"idempotency_key\":\"cli-$run-$i\"}" \
      | "$bin/finsam" --store "$work/cli" record --as bench - >/dev/null 2>&1
  done
  end=$(date +%s.%N)
  python3 -c "print(round(100/($end-$start), 1))"
done | python3 -c 'import sys; v=sorted(float(l) for l in sys.stdin); print(f"baseline, finsam record of single events (one process each): {v[1]} events/s (median of 3 × 100)")'
"$bin/finsam" --store "$work/store" serve --listen 127.0.0.1:18977 >"$work/serve.out" 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18977/healthz >/dev/null && break
  kill -0 "$server" 2>/dev/null || { echo "the server did not start:"; cat "$work/serve.out"; exit 1; }
  sleep 0.1
done
median() {
  python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
def med(kind, field):
    v = sorted(r[kind][field] for r in rows)
    return v[len(v) // 2]
w, r = rows[0]["writes"]["clients"], rows[0]["reads"]["clients"]
out = "writers %3d: %8.0f events/s  p50 %6.2f ms  p99 %6.2f ms" % (w, med("writes", "per_second"), med("writes", "p50_ms"), med("writes", "p99_ms"))
if r:
    out += " | readers %d: %6.0f req/s  p50 %6.2f ms  p99 %6.2f ms" % (r, med("reads", "per_second"), med("reads", "p50_ms"), med("reads", "p99_ms"))
print(out)
'
}
for writers in 1 8 64 256; do
  for run in 1 2 3; do
    "$bin/finsam-load" --addr 127.0.0.1:18977 --token "$token" --writers "$writers" --seconds "$seconds" --run "w$writers-$run"
  done | median
done
for run in 1 2 3; do
  "$bin/finsam-load" --addr 127.0.0.1:18977 --token "$token" --writers 64 --readers 8 --seconds "$seconds" --run "mix-$run"
done | median
kill "$server"; wait "$server" 2>/dev/null || true
echo "events in the store: $(wc -l < "$work/store/log.jsonl")"
