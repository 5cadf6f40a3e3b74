#!/usr/bin/env bash
# The service on PostgreSQL against the service on a folder, in the same run (issue 32): durable
# events/s and latency at 64 writing clients (each recording single events with its own
# idempotency keys, finsam-load), for
#   - the file store: one `finsam serve` on a folder;
#   - PostgreSQL, one instance: `finsam serve --database` with a folder of its own;
#   - PostgreSQL, two instances on the same database, the clients spread over both.
# A throwaway PostgreSQL cluster (Debian's server; initdb in a temporary folder, a free port on
# the loopback, run as the postgres user when this runs as root) is started and stopped here.
# The three are run in turn, three rounds, each on a fresh store or database; the median of the
# rounds is printed. Release build; run it on an otherwise idle machine.
#   bench/database-load.sh [SECONDS] [WRITERS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
writers="${2:-64}"
cargo build --release --bins >/dev/null 2>&1
bin=$PWD/target/release
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/postgres" ] || { echo "PostgreSQL's server is needed: apt-get install postgresql"; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
pids=()
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$pgbin/pg_ctl" -D "$work/pg" stop -m fast >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/pg" && { [ "$(id -u)" -ne 0 ] || chown postgres "$work/pg"; }
as_pg "$pgbin/initdb" -D "$work/pg" -U finsam --auth=trust -E UTF8 --no-locale >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
export FINSAM_KEY_FILE="$work/key"
registration=fixtures/00-forbund.jsonl

# A service on the loopback: `serve ARGS…` prints its address once it answers.
serve() {
  local out="$work/serve-$RANDOM.out"
  "$bin/finsam" "$@" serve --listen 127.0.0.1:0 >"$out" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    addr=$(sed -n 's#.*listening on http://\([0-9.:]*\).*#\1#p' "$out" | head -1)
    [ -n "$addr" ] && curl -sf "http://$addr/healthz" >/dev/null && { echo "$addr"; return; }
    sleep 0.05
  done
  echo "the server did not start:" >&2; cat "$out" >&2; exit 1
}

# One round of one setup; prints finsam-load's JSON.
round() {
  local kind=$1 run=$2 token addrs
  case "$kind" in
    file)
      "$bin/finsam" --store "$work/f$run" init >/dev/null
      "$bin/finsam" --store "$work/f$run" record --as bench "$registration" >/dev/null
      token=$("$bin/finsam" --store "$work/f$run" --format json user add load --role kansli --forbund sf-vastmanland --by bench \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
      addrs=$(serve --store "$work/f$run")
      ;;
    db1 | db2)
      local url="postgresql://finsam@127.0.0.1:$port/${kind}_$run"
      psql -q "postgresql://finsam@127.0.0.1:$port/postgres" -c "CREATE DATABASE ${kind}_$run"
      "$bin/finsam" --store "$work/seed-$kind$run" init >/dev/null
      "$bin/finsam" --store "$work/seed-$kind$run" record --as bench "$registration" >/dev/null
      "$bin/finsam" store copy "$work/seed-$kind$run" "$url" >/dev/null
      token=$("$bin/finsam" --database "$url" --format json user add load --role kansli --forbund sf-vastmanland --by bench \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
      addrs=$(serve --database "$url" --store "$work/$kind$run-a")
      if [ "$kind" = db2 ]; then addrs="$addrs,$(serve --database "$url" --store "$work/$kind$run-b")"; fi
      ;;
  esac
  "$bin/finsam-load" --addr "$addrs" --token "$token" --writers "$writers" --seconds "$seconds" --run "$kind-$run"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=()
  sleep 0.5
}

for run in 1 2 3; do
  for kind in file db1 db2; do
    round "$kind" "$run" | sed "s/^/$kind /"
  done
done >"$work/results"
echo "$writers writing clients, $seconds s a round, median of 3 rounds (durable: fdatasync of the log, or the database's commit)"
python3 - "$work/results" <<'PY'
import json, sys
names = {"file": "file store, 1 instance", "db1": "PostgreSQL, 1 instance", "db2": "PostgreSQL, 2 instances"}
rows = {}
for line in open(sys.argv[1]):
    kind, data = line.split(" ", 1)
    rows.setdefault(kind, []).append(json.loads(data)["writes"])
med = lambda v: sorted(v)[len(v) // 2]
base = med([r["per_second"] for r in rows["file"]])
for kind in ("file", "db1", "db2"):
    r = rows[kind]
    rate = med([x["per_second"] for x in r])
    print("%-26s %8.0f events/s (%.2f× the file store)  p50 %6.2f ms  p99 %6.2f ms  failed %d"
          % (names[kind], rate, rate / base, med([x["p50_ms"] for x in r]), med([x["p99_ms"] for x in r]), sum(x["failed"] for x in r)))
PY
