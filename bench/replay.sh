#!/usr/bin/env bash
# Issue 18's benchmark: replay, verification, a write and the reports that need the whole view,
# at three sizes of log (about 10 000, 100 000 and 1 000 000 events: 1, 8 and 82 generated
# förbund over 20 years), next to ledger-cli and hledger on the journal of the same books and
# the Python chain check, all measured in one run. Prints one Markdown table per size and the
# machine it ran on. Medians of RUNS runs (hyperfine); peak memory from `/usr/bin/time -v`.
# Release build; run it on an otherwise idle machine. Not a test.
#
#   bench/replay.sh [RUNS]            (default 5)
#   SIZES="1 8" bench/replay.sh 3     (only the smaller logs)
#
# Installs hyperfine, ledger and hledger with apt-get when they are missing.
set -euo pipefail
RUNS=${1:-5}
SIZES=${SIZES:-1 8 82}
cd "$(dirname "$0")/.."
for tool in hyperfine ledger hledger curl; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine ledger hledger curl >/dev/null; break; }
done
cargo build --release --bins --quiet
F=$PWD/target/release/finsam
WORK=$(mktemp -d /tmp/finsam-replay-XXXXXX)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=
export FINSAM_KEY_FILE=$WORK/key

# The median wall time in seconds of each command given, space-separated. Every command must
# exit 0, except `finsam reconcile`, which exits 1 when it finds something (generated
# histories have findings).
median() {
  hyperfine -N --warmup "${WARMUP:-1}" --runs "$RUNS" --export-json "$WORK/h.json" "$@" >/dev/null 2>"$WORK/hyperfine.err" \
    || { echo "hyperfine failed:" >&2; cat "$WORK/hyperfine.err" >&2; exit 1; }
  python3 -c "import json; print(' '.join('%.3f' % r['median'] for r in json.load(open('$WORK/h.json'))['results']))"
}
# The same with a command run before each (hyperfine --prepare), for commands that change the store.
median_prepared() {
  local prepare=$1
  shift
  hyperfine -N --runs "$RUNS" --prepare "$prepare" --export-json "$WORK/h.json" "$@" >/dev/null 2>&1
  python3 -c "import json; print('%.3f' % json.load(open('$WORK/h.json'))['results'][0]['median'])"
}
# Peak resident memory in MB of one run (GNU time -v).
rss() {
  /usr/bin/time -v "$@" 2>"$WORK/time.txt" >/dev/null
  awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$WORK/time.txt"
}
py() { python3 -c "print($1)"; }
# Seconds from starting `finsam serve` until /healthz answers, median of RUNS starts.
serve_start() {
  local store=$1 times=()
  for _ in $(seq "$RUNS"); do
    local start end
    start=$(date +%s.%N)
    "$F" --store "$store" serve --listen 127.0.0.1:18978 >"$WORK/serve.out" 2>&1 &
    SERVER=$!
    until curl -sf -o /dev/null http://127.0.0.1:18978/healthz; do
      kill -0 "$SERVER" 2>/dev/null || { echo "the server did not start:" >&2; cat "$WORK/serve.out" >&2; exit 1; }
      sleep 0.005
    done
    end=$(date +%s.%N)
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=
    times+=("$(py "$end - $start")")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{v[NR] = $1} END {printf "%.3f", v[int((NR + 1) / 2)]}'
}

echo "finsam replay benchmark — $(date -u +%Y-%m-%d) — $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB, $(rustc --version | cut -d' ' -f1-2), release build, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), medians of $RUNS runs"
echo "peers: $(ledger --version | head -1 | cut -d, -f1), $(hledger --version | cut -d, -f1), $(python3 --version)"
for N in $SIZES; do
  S=$WORK/s$N
  "$F" generate --forbund "$N" --years 20 --seed 1 >"$WORK/gen.jsonl"
  EVENTS=$(wc -l <"$WORK/gen.jsonl")
  "$F" --store "$S" init >/dev/null
  "$F" --store "$S" record --as bench --batch-size 10000 "$WORK/gen.jsonl" >/dev/null
  LOG_MB=$(py "'%.1f' % ($(stat -c %s "$S/log.jsonl") / 1e6)")
  # The last förbund, its last year, and a cost of it to record again (a new reference each time).
  read -r FB YEAR < <(python3 - "$WORK/gen.jsonl" "$WORK/cost.template" <<'PY'
import json, sys
cost = [json.loads(l) for l in open(sys.argv[1]) if '"CostRecorded"' in l][-1]
cost.pop("idempotency_key", None)
cost["reference"] = "REF"
open(sys.argv[2], "w").write(json.dumps(cost, ensure_ascii=False) + "\n")
print(cost["forbund"], cost["year"])
PY
  )
  echo 0 >"$WORK/n"
  PREPARE="sh -c 'n=\$((\$(cat $WORK/n) + 1)); echo \$n > $WORK/n; sed s/REF/bench-\$n/ $WORK/cost.template > $WORK/one.jsonl'"

  REINDEX=$(median "$F --store $S reindex")
  REINDEX_RSS=$(rss "$F" --store "$S" reindex)
  VERIFY=$(median "$F --store $S audit verify")
  # The peers take long at a million events; the log is in the page cache already.
  PYVERIFY=$(WARMUP=0 median "python3 events/verify_chain.py $S/log.jsonl")
  VERIFY_RSS=$(rss "$F" --store "$S" audit verify)
  RECORD=$(median_prepared "$PREPARE" "$F --store $S record --as bench $WORK/one.jsonl")
  eval "$PREPARE"
  RECORD_RSS=$(rss "$F" --store "$S" record --as bench "$WORK/one.jsonl")
  read -r BUDGET EXPLAIN TRAIL BALANCES < <(median \
    "$F --store $S budget --forbund $FB --year $YEAR" \
    "$F --store $S audit explain --forbund $FB --account 1930" \
    "$F --store $S audit trail --forbund $FB --from $YEAR-01-01" \
    "$F --store $S balances --forbund $FB")
  RECONCILE=$(median "sh -c '$F --store $S reconcile >/dev/null; test \$? -le 1'")
  BUDGET_RSS=$(rss "$F" --store "$S" budget --forbund "$FB" --year "$YEAR")
  SERVE=$(serve_start "$S")

  "$F" --store "$S" export journal --all >"$WORK/books.journal"
  read -r LEDGER HLEDGER < <(WARMUP=0 median "ledger -f $WORK/books.journal bal" "hledger -f $WORK/books.journal bal")
  LEDGER_RSS=$(rss ledger -f "$WORK/books.journal" bal)
  HLEDGER_RSS=$(rss hledger -f "$WORK/books.journal" bal)

  echo
  echo "### $EVENTS events ($N förbund × 20 years, seed 1), log $LOG_MB MB, journal $(py "'%.1f' % ($(stat -c %s "$WORK/books.journal") / 1e6)") MB"
  echo
  echo "| what | wall (median) | rate | peak RSS |"
  echo "|---|---|---|---|"
  echo "| \`finsam reindex\` (cold replay into every projection) | $REINDEX s | $(py "round($EVENTS / $REINDEX)") events/s | $REINDEX_RSS MB |"
  echo "| \`ledger -f J bal\` | $LEDGER s | finsam $(py "'%.1f' % ($LEDGER / $REINDEX)")× faster | $LEDGER_RSS MB |"
  echo "| \`hledger -f J bal\` | $HLEDGER s | finsam $(py "'%.1f' % ($HLEDGER / $REINDEX)")× faster | $HLEDGER_RSS MB |"
  echo "| \`finsam audit verify\` (every check) | $VERIFY s | $(py "'%.0f' % ($LOG_MB / $VERIFY)") MB/s | $VERIFY_RSS MB |"
  echo "| \`python3 events/verify_chain.py\` (the chain only) | $PYVERIFY s | $(py "'%.0f' % ($LOG_MB / $PYVERIFY)") MB/s | |"
  echo "| \`finsam record\` of one event (open, check, append, save) | $RECORD s | | $RECORD_RSS MB |"
  echo "| \`finsam budget --forbund $FB --year $YEAR\` | $BUDGET s | | $BUDGET_RSS MB |"
  echo "| \`finsam reconcile\` | $RECONCILE s | | |"
  echo "| \`finsam audit explain --forbund $FB --account 1930\` | $EXPLAIN s | | |"
  echo "| \`finsam audit trail --forbund $FB --from $YEAR-01-01\` | $TRAIL s | | |"
  echo "| \`finsam balances --forbund $FB\` (the totals, which the writer keeps) | $BALANCES s | | |"
  echo "| \`finsam serve\` until \`/healthz\` answers | $SERVE s | | |"
  rm -rf "$S"
done
