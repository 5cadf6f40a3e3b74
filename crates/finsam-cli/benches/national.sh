#!/usr/bin/env bash
# National-scale benchmark (issue 7): generate a log, record it, replay it, verify it, report
# after new events, and compare `finsam balances` with `ledger bal` and `hledger bal` on the
# same books. Prints one table (medians of RUNS runs) with the machine described. Not a test:
# run it by hand, on a quiet machine.
#
#   bash crates/finsam-cli/benches/national.sh [FORBUND [YEARS [RUNS]]]     (default 75 20 3)
#
# Installs hyperfine, ledger and hledger with apt-get when they are missing.
set -euo pipefail
FORBUND=${1:-75}
YEARS=${2:-20}
RUNS=${3:-3}
cd "$(dirname "$0")/../../.."
for tool in hyperfine ledger hledger; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine ledger hledger >/dev/null; break; }
done
cargo build --release --quiet
F=$PWD/target/release/finsam
WORK=$(mktemp -d /tmp/finsam-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# median of RUNS runs of each command given, in seconds, space-separated
median() { hyperfine -N --runs "$RUNS" --export-json "$WORK/h.json" "$@" >/dev/null 2>&1; python3 -c "
import json; r=json.load(open('$WORK/h.json'))['results']; print(' '.join('%.3f' % x['median'] for x in r))"; }
# peak RSS in MB of one run
rss() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1 / 1024}'; }
py() { python3 -c "print($1)"; }

APPENDS=$(cargo bench --quiet -p finsam-store --bench appends 2>/dev/null | grep 'batches of')

"$F" generate --forbund "$FORBUND" --years "$YEARS" --seed 1 > "$WORK/gen.jsonl"
EVENTS=$(wc -l < "$WORK/gen.jsonl")
"$F" --store "$WORK/s" init >/dev/null
REC_START=$(date +%s.%N)
"$F" --store "$WORK/s" record --as bench --batch-size 10000 "$WORK/gen.jsonl" >/dev/null
REC=$(py "'%.3f' % ($(date +%s.%N) - $REC_START)")
LOG_MB=$(py "'%.1f' % ($(stat -c %s "$WORK/s/log.jsonl") / 1e6)")

REINDEX=$(median "$F --store $WORK/s reindex")
REINDEX_RSS=$(rss "$F" --store "$WORK/s" reindex)
REINDEX_CPU=$( { /usr/bin/time -f "%U %S" "$F" --store "$WORK/s" reindex >/dev/null; } 2>&1 | tail -1 | awk '{printf "%.3f", $1 + $2}')
VERIFY=$(median "$F --store $WORK/s audit verify")

# The förbund, the last one, and 1 000 new contributions of its last year (a copy of the store).
LIST=$("$F" --store "$WORK/s" status --format json | python3 -c "import json,sys; print(' '.join(x['forbund'] for x in json.load(sys.stdin)['forbund']))")
LAST=${LIST##* }
LAST_YEAR=$(python3 - "$WORK/gen.jsonl" "$WORK/more.jsonl" <<'PY'
import json, sys
last_year = max(json.loads(l)["year"] for l in open(sys.argv[1]) if '"ContributionReceived"' in l)
lines = [l for l in open(sys.argv[1]) if '"ContributionReceived"' in l and f'"year":{last_year}' in l][-1000:]
out = []
for l in lines:
    e = json.loads(l)
    e["reference"] += " (benchmark)"
    e.pop("idempotency_key", None)
    out.append(json.dumps(e, ensure_ascii=False))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print(last_year)
PY
)
cp -r "$WORK/s" "$WORK/t"
MORE_START=$(date +%s.%N)
"$F" --store "$WORK/t" record --as bench "$WORK/more.jsonl" >/dev/null
MORE=$(py "'%.3f' % ($(date +%s.%N) - $MORE_START)")
AFTER_BAL=$(median "$F --store $WORK/t balances --forbund $LAST")
AFTER_BUDGET=$(median "$F --store $WORK/t budget --forbund $LAST --year $LAST_YEAR")
AFTER_BUDGET_RSS=$(rss "$F" --store "$WORK/t" budget --forbund "$LAST" --year "$LAST_YEAR")

"$F" --store "$WORK/s" export journal --all > "$WORK/books.journal"
JOURNAL_MB=$(py "'%.1f' % ($(stat -c %s "$WORK/books.journal") / 1e6)")
LEDGER=$(median "ledger -f $WORK/books.journal bal")
LEDGER_RSS=$(rss ledger -f "$WORK/books.journal" bal)
HLEDGER=$(median "hledger -f $WORK/books.journal bal")
HLEDGER_RSS=$(rss hledger -f "$WORK/books.journal" bal)
# finsam: every förbund, a fresh process each, with the store's derived state as it stands.
cat > "$WORK/each.sh" <<SH
#!/bin/sh
for f in $LIST; do $F --store $WORK/s balances --forbund \$f --as-of 2099-12-31 >/dev/null; done
SH
# ... the same from no derived state at all: the first report replays the whole log.
cat > "$WORK/cold.sh" <<SH
#!/bin/sh
rm -rf $WORK/s/derived
$F --store $WORK/s balances --all --as-of 2099-12-31 >/dev/null
SH
chmod +x "$WORK/each.sh" "$WORK/cold.sh"
EACH=$(median "$WORK/each.sh")
ALL=$(median "$F --store $WORK/s balances --all --as-of 2099-12-31")
ALL_RSS=$(rss "$F" --store "$WORK/s" balances --all --as-of 2099-12-31)
COLD=$(median "$WORK/cold.sh")
COLD_RSS=$( { /usr/bin/time -f "%M" sh "$WORK/cold.sh"; } 2>&1 | tail -1 | awk '{printf "%.0f", $1 / 1024}')

echo "finsam national benchmark — $(date -u +%Y-%m-%d) — $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(rustc --version | cut -d' ' -f1-2), release build"
echo "log: $EVENTS events ($FORBUND förbund × $YEARS years, seed 1), $LOG_MB MB; journal $JOURNAL_MB MB; medians of $RUNS runs"
row() { printf '%-62s %s\n' "$1" "$2"; }
row "what" "figure"
echo "$APPENDS" | while read -r line; do row "durable appends (library, fdatasync per batch), ${line%%:*}" "${line#*: }"; done
row "bulk record from a file (batches of 10 000), one run" "$REC s = $(py "round($EVENTS / $REC)") events/s"
row "full replay (reindex, no checkpoint), wall" "$REINDEX s = $(py "round($EVENTS / $REINDEX)") events/s, $(py "'%.1f' % ($LOG_MB / $REINDEX)") MB/s of log"
row "full replay, CPU time (user + system, 2 threads)" "$REINDEX_CPU s = $(py "round($EVENTS / $REINDEX_CPU)") events per CPU-second"
row "full replay, peak RSS" "$REINDEX_RSS MB"
row "audit verify" "$VERIFY s = $(py "'%.1f' % ($LOG_MB / $VERIFY)") MB/s"
row "record 1 000 new events into the store (one command)" "$MORE s"
row "then balances of $LAST (reads the totals)" "$AFTER_BAL s"
row "then budget of $LAST $LAST_YEAR (loads the checkpoint)" "$AFTER_BUDGET s, peak RSS $AFTER_BUDGET_RSS MB"
row "ledger -f J bal" "$LEDGER s, peak RSS $LEDGER_RSS MB"
row "hledger -f J bal" "$HLEDGER s, peak RSS $HLEDGER_RSS MB"
row "finsam balances --all (one process, derived state present)" "$ALL s, peak RSS $ALL_RSS MB; ledger/finsam = $(py "'%.1f' % ($LEDGER / $ALL)"), hledger/finsam = $(py "'%.1f' % ($HLEDGER / $ALL)")"
row "finsam balances --forbund F, a process per förbund" "$EACH s; ledger/finsam = $(py "'%.1f' % ($LEDGER / $EACH)"), hledger/finsam = $(py "'%.1f' % ($HLEDGER / $EACH)")"
row "finsam balances --all from no derived state (replays)" "$COLD s, peak RSS $COLD_RSS MB; ledger/finsam = $(py "'%.2f' % ($LEDGER / $COLD)")"
