#!/usr/bin/env bash
# National-scale benchmark (issue 7): generate a log, record it, replay it, verify it, and
# compare `finsam balances` with `ledger bal` and `hledger bal` on the same books.
# Prints one table (medians of RUNS runs) with the machine described. Not a test: run it by hand.
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
median() { hyperfine -N --runs "$RUNS" --export-json "$WORK/h.json" "$@" >/dev/null 2>&1; python3 -c "
import json,sys; r=json.load(open('$WORK/h.json'))['results']; print(' '.join('%.3f' % x['median'] for x in r))"; }
rss() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }

"$F" generate --forbund "$FORBUND" --years "$YEARS" --seed 1 > "$WORK/gen.jsonl"
EVENTS=$(wc -l < "$WORK/gen.jsonl")
"$F" --store "$WORK/s" init >/dev/null
REC_START=$(date +%s.%N)
"$F" --store "$WORK/s" record --as bench --batch-size 10000 "$WORK/gen.jsonl" >/dev/null
REC=$(python3 -c "import time; print('%.3f' % (time.time() - $REC_START))")
LOG_MB=$(python3 -c "import os; print('%.1f' % (os.path.getsize('$WORK/s/log.jsonl') / 1e6))")
REINDEX=$(median "$F --store $WORK/s reindex")
REINDEX_RSS=$(rss "$F" --store "$WORK/s" reindex)
VERIFY=$(median "$F --store $WORK/s audit verify")
"$F" --store "$WORK/s" export journal --all > "$WORK/books.journal"
LEDGER=$(median "ledger -f $WORK/books.journal bal")
LEDGER_RSS=$(rss ledger -f "$WORK/books.journal" bal)
HLEDGER=$(median "hledger -f $WORK/books.journal bal")
HLEDGER_RSS=$(rss hledger -f "$WORK/books.journal" bal)
cat > "$WORK/all.sh" <<SH
#!/bin/sh
rm -rf $WORK/s/derived
for f in \$($F --store $WORK/s status --format json | python3 -c "import json,sys; print(' '.join(x['forbund'] for x in json.load(sys.stdin)['forbund']))"); do
  $F --store $WORK/s balances --forbund \$f --as-of 2099-12-31 >/dev/null
done
SH
chmod +x "$WORK/all.sh"
FINSAM_ALL=$(median "$WORK/all.sh")

echo "finsam national benchmark — $(date -u +%Y-%m-%d) — $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(rustc --version)"
echo "log: $EVENTS events ($FORBUND förbund × $YEARS years), $LOG_MB MB; medians of $RUNS runs"
printf '%-58s %s\n' "what" "figure"
printf '%-58s %s\n' "bulk record (batches of 10 000), one run" "$REC s = $(python3 -c "print(round($EVENTS / $REC))") events/s"
printf '%-58s %s\n' "full replay (reindex, cold)" "$REINDEX s = $(python3 -c "print(round($EVENTS / $REINDEX))") events/s, $(python3 -c "print('%.1f' % ($LOG_MB / $REINDEX))") MB/s, peak RSS $((REINDEX_RSS / 1024)) MB"
printf '%-58s %s\n' "audit verify" "$VERIFY s = $(python3 -c "print('%.1f' % ($LOG_MB / $VERIFY))") MB/s"
printf '%-58s %s\n' "ledger -f J bal" "$LEDGER s, peak RSS $((LEDGER_RSS / 1024)) MB"
printf '%-58s %s\n' "hledger -f J bal" "$HLEDGER s, peak RSS $((HLEDGER_RSS / 1024)) MB"
printf '%-58s %s\n' "finsam balances for every förbund, cold start" "$FINSAM_ALL s (ledger / finsam = $(python3 -c "print('%.2f' % ($LEDGER / $FINSAM_ALL))"))"
