#!/usr/bin/env python3
"""Check a finsam log (log.jsonl) with nothing but Python's standard library.

Usage: python3 verify_chain.py LOG [--digest SEQ:HASH ...]
       python3 verify_chain.py --manifest MANIFEST

Every line is one JSON envelope. Its `hash` is the SHA-256 (hex) of the line's own bytes with
the `,"hash":"..."` member cut out (i.e. of line[:line.rindex(b',"hash":"')] + b"}"), and its
`prev_hash` is the previous line's hash (64 zeros for the first line). Seqs run 1, 2, 3 ...
without gaps. A batch is complete when its line with seq == batch_last is present; lines after
the last complete batch were never acknowledged and are reported, not counted.

A digest SEQ:HASH (from `finsam audit digest`, or copied from board minutes) proves that the log
still begins with exactly the history it described: line SEQ must carry HASH.

--manifest checks a revisor's bundle: every file listed in MANIFEST ("SHA256  path" per line,
paths relative to the MANIFEST's folder) must exist with that SHA-256, and no other file may be
in the folder. Then it recomputes the figures of the bundle's reports from its log (which must
end at DIGEST) with the posting rules of books.py (described in POSTING.md) and the bundled
chart.json: every account's balance and the key figures at 31 December, each budget line's
budget / granted / spent / remaining / uncommitted and the budget's totals, and the events of
the year's trail with their hashes, decisions and vouchers. It compares them with both the JSON
and the text reports; a difference is BAD and names the figure. A MANIFEST rebuilt after a
report was changed does not hide the change.

Prints the verdict; exits 0 when everything holds, 1 otherwise, 2 on bad usage.
"""
import datetime
import hashlib
import json
import os
import re
import sys
from decimal import Decimal

sys.dont_write_bytecode = True  # a bundle's folder must hold exactly its MANIFEST's files
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import books  # noqa: E402  the posting rules, beside this file

GENESIS = "0" * 64
MEMBERS = ["seq", "id", "recorded_at", "recorded_by", "batch_last", "event", "prev_hash", "hash"]


LINE_BYTES_MAX = 1 << 20


class NotCanonical(ValueError):
    pass


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise NotCanonical(f"duplicate member {key!r}")
        seen[key] = value
    return seen


def _no_float(text):
    raise NotCanonical(f"the number {text} is not an integer")


def _no_constant(text):
    raise NotCanonical(f"{text} is not JSON")


def canonical_problem(line):
    """What keeps a line from being a canonical envelope (see CANONICAL.md), or None."""
    if len(line) > LINE_BYTES_MAX:
        return f"longer than the limit of {LINE_BYTES_MAX} bytes"
    try:
        text = line.decode("utf-8")  # strict: CESU-8 and lone surrogates are refused here
        env = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as e:
        return f"not an envelope: {e}"
    if not isinstance(env, dict) or list(env.keys()) != MEMBERS:
        return f"members {list(env.keys()) if isinstance(env, dict) else env!r} are not {MEMBERS}"
    for key in ("seq", "batch_last"):
        if type(env[key]) is not int or env[key] < 0:
            return f"`{key}` is not an unsigned integer"
    for key in ("id", "recorded_at", "recorded_by", "prev_hash", "hash"):
        if type(env[key]) is not str:
            return f"`{key}` is not a string"
    if not isinstance(env["event"], dict):
        return "`event` is not an object"
    try:
        again = json.dumps(env, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate written as an escape
        return f"not an envelope: {e}"
    if again != line:
        at = next((i for i, (a, b) in enumerate(zip(again, line)) if a != b), min(len(again), len(line)))
        return f"not the canonical line: it differs from the compact encoding of its content at byte {at}"
    return None


def verify(path, digests):
    problems = []
    prev, seq, head, complete_head = GENESIS, 0, (0, GENESIS), (0, GENESIS)
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    torn = lines.pop()  # bytes after the last newline: a partial line, or b""
    envelopes = []
    for number, line in enumerate(lines, start=1):
        problem = canonical_problem(line)
        if problem:
            problems.append((number, problem))
            break
        env = json.loads(line)
        cut = line.rindex(b',"hash":"')
        if hashlib.sha256(line[:cut] + b"}").hexdigest() != env["hash"]:
            problems.append((number, "hash mismatch: the line's content was changed"))
            break
        if env["seq"] != seq + 1:
            problems.append((number, f"seq {env['seq']} follows seq {seq}"))
            break
        if env["prev_hash"] != prev:
            problems.append((number, f"prev_hash does not match the hash of seq {seq}"))
            break
        if env["batch_last"] < env["seq"]:
            problems.append((number, f"batch_last {env['batch_last']} lies before seq {env['seq']}"))
            break
        seq, prev = env["seq"], env["hash"]
        head = (seq, prev)
        envelopes.append(env)
        if env["seq"] == env["batch_last"]:
            complete_head = head
    if not problems and len(torn) > LINE_BYTES_MAX:
        # A torn write leaves at most one partial line; no line is this long.
        problems.append((len(lines) + 1, f"longer than the limit of {LINE_BYTES_MAX} bytes"))
    for d in digests:
        want_seq, want_hash = d.split(":", 1)
        want_seq = int(want_seq)
        if want_seq > head[0] or want_seq < 1:
            problems.append((want_seq, f"digest {d}: the log has no seq {want_seq}"))
            continue
        env = envelopes[want_seq - 1]
        if env["hash"] != want_hash:
            problems.append((want_seq, f"digest {d}: seq {want_seq} now has hash {env['hash']}: history was rewritten"))
    unfinished = head[0] - complete_head[0]
    return problems, complete_head, unfinished, len(torn), envelopes[: complete_head[0]]


def verify_manifest(manifest):
    base = os.path.dirname(os.path.abspath(manifest))
    problems, listed = [], set()
    with open(manifest, "r", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            want, sep, path = line.partition("  ")
            if not sep or len(want) != 64:
                problems.append(f"MANIFEST line {number} is not 'SHA256  path'")
                continue
            listed.add(path)
            full = os.path.join(base, path)
            if not os.path.isfile(full):
                problems.append(f"{path}: listed but missing")
                continue
            with open(full, "rb") as g:
                got = hashlib.sha256(g.read()).hexdigest()
            if got != want:
                problems.append(f"{path}: SHA-256 {got}, MANIFEST says {want}: the file was changed")
    for root, _dirs, files in os.walk(base):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), base).replace(os.sep, "/")
            if rel != "MANIFEST" and rel not in listed:
                problems.append(f"{rel}: in the folder but not in MANIFEST")
    checked, skipped = 0, []
    if os.path.isdir(os.path.join(base, "reports")):
        try:
            found, checked, skipped = verify_figures(base)
        except (OSError, ValueError, KeyError) as e:
            found = [f"the reports could not be recomputed from the log: {e}"]
        problems.extend(found)
    for p in problems:
        print(f"BAD {p}")
    for name in skipped:
        if name.startswith("reports/"):
            print(f"note: {name} is not recomputed by this verifier")
        else:
            print(f"note: {name}")
    verdict = "OK" if not problems else "BAD"
    print(f"{verdict} files={len(listed)} figures={checked} manifest={manifest}")
    return 0 if not problems else 1


AMOUNT = re.compile(r"^[-\u2212]?\d{1,3}(?:[ \u00a0\u202f]\d{3})*,\d{2}$")


COLUMNS = ("budget", "granted", "spent", "remaining", "uncommitted")


def kr(value):
    """An amount as a revisor reads it: "-1 638 899,00 kr" ("–" when it does not apply)."""
    if value is None:
        return "–"
    sign, text = ("-" if value < 0 else ""), f"{abs(value):,.2f}"
    return sign + text.replace(",", " ").replace(".", ",") + " kr"


def swedish(text):
    """A figure as the text reports print it ("-1 638 899,00"), as a Decimal; None if it is none."""
    text = text.strip()
    if text.endswith(" kr"):
        text = text[:-3]
    if not AMOUNT.match(text):
        return None
    return Decimal(re.sub(r"[ \u00a0\u202f]", "", text).replace("\u2212", "-").replace(",", "."))


def trailing_amounts(line, count):
    """The name before the last `count` figures of a table row, and the figures; None if it has fewer."""
    parts = re.split(r"\s{2,}", line.strip())
    if len(parts) < count:
        return None
    # "–" is a figure that does not apply (the uncommitted budget of a line that takes no grants)
    figures = [None if p.strip() == "\u2013" else swedish(p) for p in parts[-count:]]
    if any(f is None and p.strip() != "\u2013" for f, p in zip(figures, parts[-count:])):
        # a figure may be separated from the name by a single space when the column is full
        return None
    return " ".join(parts[:-count]).strip(), figures


class Figures:
    """The figures of a bundle's reports, recomputed from its log and compared (see POSTING.md)."""

    def __init__(self, base, envelopes, head):
        self.base, self.head, self.problems, self.checked, self.forbund = base, head, [], 0, None
        self.books = books.Books()
        for env in envelopes:
            self.books.apply(env["seq"], env["event"])
        self.envelopes = envelopes
        with open(os.path.join(base, "chart.json"), "r", encoding="utf-8") as f:
            self.chart_id, self.chart = books.read_chart(f.read())

    def compare(self, where, what, said, computed):
        """One figure: what the report says against what the log gives (amounts are strings)."""
        self.checked += 1
        value = said
        if isinstance(computed, Decimal):
            try:
                value = Decimal(said) if isinstance(said, str) else None
            except ArithmeticError:
                value = None
        if value != computed:
            shown = "nothing" if computed is None else kr(computed) if isinstance(computed, Decimal) else repr(computed)
            said = kr(value) if isinstance(computed, Decimal) and value is not None else repr(said)
            self.problems.append(f"{where}: {what} is {said} in the report, the log gives {shown}")

    def axes(self, where, report, as_of):
        self.compare(where, "known_at", report.get("known_at"), self.head)
        self.compare(where, "as_of", report.get("as_of"), as_of.isoformat())

    def balances(self, name, report, text):
        where = f"reports/{name}"
        f, as_of = self.forbund, books.day(name[len("saldon-"):-len(".json")])
        self.axes(where, report, as_of)
        self.compare(where, "chart", report.get("chart"), self.chart_id)
        b = self.books.balances(f, as_of, self.head, self.chart)
        self.compare(where, "name", report.get("name"), b["name"])
        for key in ("bank", "equity", "income", "costs", "result"):
            self.compare(where, key, report.get(key), b[key])
        self.compare(where, "vouchers", report.get("vouchers"), b["vouchers"])
        listed = {a.get("account"): a for a in report.get("accounts", [])}
        for number, balance in sorted(b["accounts"].items()):
            account = listed.pop(number, {})
            self.compare(where, f"the balance of account {number}", account.get("balance"), balance)
        for number in listed:
            self.problems.append(f"{where}: account {number} is in the report, the log books nothing on it")
        # The text a revisor reads: every account row and key figure, by account number and label.
        seen = set()
        labels = {"bank": b["bank"], "equity": b["equity"], "eget": b["equity"], "income": b["income"],
                  "intäkter": b["income"], "costs": b["costs"], "kostnader": b["costs"], "result": b["result"],
                  "resultat": b["result"], "årets": b["result"], "sum": Decimal(0), "summa": Decimal(0)}
        for line in text.splitlines():
            found = trailing_amounts(line, 1)
            if found is None:
                continue
            label, (figure,) = found
            first = label.split(" ")[0].lower() if label else ""
            txt = where[:-len(".json")] + ".txt"
            if first in b["accounts"]:
                seen.add(first)
                self.compare(txt, f"the balance of account {first}", str(figure), b["accounts"][first])
            elif first.isdigit():
                self.problems.append(f"{txt}: account {first} is in the report, the log books nothing on it")
            elif first in labels:
                self.compare(txt, label, str(figure), labels[first])
            else:
                self.problems.append(f"{txt}: the row {label!r} is no figure this verifier knows")
        for number in sorted(set(b["accounts"]) - seen):
            self.problems.append(f"reports/{name[:-5]}.txt: account {number} is missing")

    def budget(self, name, report, text):
        where = f"reports/{name}"
        f, year = self.forbund, int(name[len("budgetlage-"):-len(".json")])
        self.compare(where, "forbund", report.get("forbund"), f)
        self.axes(where, report, books.datetime.date(year, 12, 31))
        self.compare(where, "year", report.get("year"), year)
        p = self.books.budget_position(f, year, books.datetime.date(year, 12, 31), self.head)
        if p is None:
            self.problems.append(f"{where}: the log has no budget in force for {year}")
            return
        self.compare(where, "budget_seq", report.get("budget_seq"), p["budget_seq"])
        self.compare(where, "status", report.get("status"), p["status"])
        lines = report.get("lines", [])
        if [l.get("id") for l in lines] != [l["id"] for l in p["lines"]]:
            self.problems.append(f"{where}: the lines are {[l.get('id') for l in lines]}, the budget in force has {[l['id'] for l in p['lines']]}")
        tuples = {}
        for said, l in zip(lines, p["lines"]):
            # An admin line without an insats takes no grants: its uncommitted does not apply.
            uncommitted = l["budget"] - l["granted"] if books.takes_grants(l) else None
            figures = {"budget": l["budget"], "granted": l["granted"], "spent": l["spent"],
                       "remaining": l["budget"] - l["spent"], "uncommitted": uncommitted}
            for key, value in figures.items():
                self.compare(where, f"line {l['id']}: {key}", said.get(key), value)
            for key in ("name", "category", "insats"):
                self.compare(where, f"line {l['id']}: {key}", said.get(key), l[key])
            tuples.setdefault(l["name"], []).append(list(figures.values()))
        costs = report.get("costs", {})
        totals = {"total": p["costs_total"], "granted": sum((l["granted"] for l in p["lines"]), Decimal(0)),
                  "spent": sum((l["spent"] for l in p["lines"]), Decimal(0)), "unbudgeted_spent": p["unbudgeted_spent"]}
        for key, value in totals.items():
            self.compare(where, f"costs {key}", costs.get(key), value)
        def uncommitted(lines):
            taking = [l["budget"] - l["granted"] for l in lines if books.takes_grants(l)]
            return sum(taking, Decimal(0)) if taking else None

        all_uncommitted = uncommitted(p["lines"])
        sums = [[totals["total"], totals["granted"], totals["spent"], totals["total"] - totals["spent"], all_uncommitted]]
        for c, figures in p["by_category"].items():
            said = costs.get("by_category", {}).get(c, {})
            for key, value in figures.items():
                self.compare(where, f"{c}: {key}", said.get(key), value)
            of_category = uncommitted([l for l in p["lines"] if l["category"] == c])
            self.compare(where, f"{c}: uncommitted", said.get("uncommitted"), of_category)
            sums.append([figures["budget"], figures["granted"], figures["spent"], figures["budget"] - figures["spent"], of_category])
        income = report.get("income", {})
        self.compare(where, "income total", income.get("total"), p["income_total"])
        self.compare(where, "income received", income.get("received"), p["income_received"])
        for key in ("result", "transfers_in", "closing_equity"):
            self.compare(where, key, report.get(key), p[key])
        opening = report.get("opening_equity", {})
        self.compare(where, "opening equity", opening.get("amount"), p["opening_equity"])
        self.compare(where, "opening equity source", opening.get("source"), p["opening_equity_source"])
        for key, value in p["shares"].items():
            self.compare(where, f"share {key}", report.get("shares", {}).get(key), value)
        txt = where[:-len(".json")] + ".txt"
        for line in text.splitlines():
            found = trailing_amounts(line, 5)
            if found is None:
                continue
            label, figures = found
            if label in tuples:
                if figures not in tuples[label]:
                    want = tuples[label][0]
                    for column, shown, value in zip(COLUMNS, figures, want):
                        if shown != value:
                            self.problems.append(f"{txt}: line {label!r}: {column} is {kr(shown)} in the report, the log gives {kr(value)}")
                self.checked += 5
            elif figures in sums:
                self.checked += 5
            else:
                self.problems.append(f"{txt}: the row {label!r} ({figures}) is neither a line nor a sum the log gives")
        shown = {trailing_amounts(l, 5)[0] for l in text.splitlines() if trailing_amounts(l, 5)}
        for label in sorted(set(tuples) - shown):
            self.problems.append(f"{txt}: line {label!r} is missing")

    def trail(self, name, rows, text):
        where = f"reports/{name}"
        year, f = int(name[len("handelser-"):-len(".json")]), self.forbund

        def in_books(e):
            return e["forbund"] == f or (e["type"] in ("EquityTransferred", "BalancesTakenOver") and e["from"] == f)

        first, last = books.datetime.date(year, 1, 1), books.datetime.date(year, 12, 31)
        expected = [env for env in self.envelopes if in_books(env["event"]) and first <= books.day(env["event"]["date"]) <= last]
        self.compare(where, "the events listed (seqs)", [r.get("seq") for r in rows], [e["seq"] for e in expected])
        for said, env in zip(rows, expected):
            e, at = env["event"], f"seq {env['seq']}"
            for key in ("hash", "recorded_at", "recorded_by"):
                self.compare(where, f"{at}: {key}", said.get(key), env[key])
            for key in ("date", "forbund", "type"):
                self.compare(where, f"{at}: {key}", said.get(key), e[key])
            decision = e.get("decision")
            if decision is not None:
                decision = {"body": decision["body"], "date": decision["date"], "paragraph": decision.get("paragraph")}
            self.compare(where, f"{at}: decision", said.get("decision"), decision)
            vouchers = [self.books.vouchers[i] for i in self.books.by_seq.get(env["seq"], [])]
            vouchers = [{"forbund": v.forbund, "voucher": v.label()} for v in vouchers]
            self.compare(where, f"{at}: vouchers", said.get("vouchers"), vouchers)
            corrected_by = self.books.corrected.get(env["seq"], (None,))[0]
            self.compare(where, f"{at}: corrected_by", said.get("corrected_by"), corrected_by)
            self.compare(where, f"{at}: corrects", said.get("corrects"), e.get("corrects"))
        # A row of the text begins with the seq and the time it was recorded.
        listed = [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+\d{4}-\d{2}-\d{2}T", text, re.M)]
        txt = where[: -len(".json")] + ".txt"
        self.compare(txt, "the events listed (seqs)", listed, [e["seq"] for e in expected])


def _annual(self, name, report, text):
    """The annual report's statements, this year and the comparison column (the förbund's own
    previous year, or in a merger's first year its predecessors' added together)."""
    where = f"reports/{name}"
    f, year = self.forbund, int(name[len("arsredovisning-"):-len(".json")])
    self.compare(where, "forbund", report.get("forbund"), f)
    self.compare(where, "year", report.get("year"), year)
    self.compare(where, "known_at", report.get("known_at"), self.head)
    current = self.books.annual([f], year, self.head)
    previous_of = report.get("previous")
    previous = None
    if previous_of is not None:
        self.compare(where, "the comparison year", previous_of.get("year"), year - 1)
        previous = self.books.annual(previous_of.get("forbund", []), year - 1, self.head)
    rows = {}
    figured = set()  # the labels with a figure other than zero in either column
    for statement, figures in current.items():
        lines = {l.get("key"): l for l in report["statements"][statement]}
        for key, value in figures.items():
            line = lines.pop(key, None)
            if line is None:
                self.problems.append(f"{where}: {statement} {key} is missing")
                continue
            self.compare(where, f"{statement} {key}", line["current"]["amount"], value)
            if previous is not None:
                self.compare(where, f"{statement} {key} (the year before)", line["previous"]["amount"],
                             previous[statement][key])
            rows.setdefault(line.get("label"), []).append(value)
            if value != 0 or (previous is not None and previous[statement][key] != 0):
                figured.add(line.get("label"))
        for key in lines:
            self.problems.append(f"{where}: {statement} {key} is no figure this verifier knows")
    # The förvaltningsberättelse's year in brief: generated from the statements (this year, the
    # year before) and the budget in force (its result).
    rr, br = current["resultatrakning"], current["balansrakning"]

    def brief_of(figures):
        r, b = figures["resultatrakning"], figures["balansrakning"]
        return {"intakter": r["summa_intakter"] + r["finansiella_intakter"],
                "kostnader": r["summa_kostnader"] + r["finansiella_kostnader"],
                "arets_resultat": r["arets_resultat"], "eget_kapital": b["eget_kapital"]}

    said = {r.get("key"): r for r in report.get("forvaltningsberattelse", {}).get("aret_i_korthet", [])}
    brief_labels = {"intakter": "Intäkter", "kostnader": "Kostnader", "arets_resultat": "Årets resultat",
                    "eget_kapital": "Eget kapital vid årets slut"}
    budget = self.books.budget_position(f, year, datetime.date(year, 12, 31), self.head)
    for key, value in brief_of(current).items():
        row = said.get(key)
        if row is None:
            self.problems.append(f"{where}: the förvaltningsberättelse has no {key} in its year in brief")
            continue
        self.compare(where, f"förvaltningsberättelse {key}", row.get("year"), value)
        if previous is not None:
            self.compare(where, f"förvaltningsberättelse {key} (the year before)", row.get("previous"),
                         brief_of(previous)[key])
        if key == "arets_resultat" and budget is not None:
            self.compare(where, "förvaltningsberättelse arets_resultat (the budget)", row.get("budget"), budget["result"])
    # The result per category against the budget, as the förvaltningsberättelse states it.
    stated = report.get("forvaltningsberattelse", {}).get("resultat_per_kategori", [])
    expected = {}
    if budget is not None:
        expected = {c: v for c, v in budget["by_category"].items() if v["budget"] != 0 or v["spent"] != 0}
    self.compare(where, "förvaltningsberättelse: the categories with a budget or an utfall",
                 sorted(r.get("category") for r in stated), sorted(expected))
    for r in stated:
        c = expected.get(r.get("category"))
        if c is not None:
            self.compare(where, f"förvaltningsberättelse {r['category']} budget", r.get("budget"), c["budget"])
            self.compare(where, f"förvaltningsberättelse {r['category']} utfall", r.get("utfall"), c["spent"])
    # ... and in the text, the rows of "Året i korthet" (this year's figure first).
    txt = where[:-len(".json")] + ".txt"
    in_brief = False
    for line in text.splitlines():
        if line.startswith("Året i korthet"):
            in_brief = True
            continue
        if in_brief and not line.strip():
            break
        for key, label in brief_labels.items():
            if in_brief and line.startswith(label + "  "):
                found = trailing_amounts(line, 3)
                if found is not None and found[0] == label:
                    self.compare(txt, f"Året i korthet: {label}", str(found[1][0]), brief_of(current)[key])
    # The text a revisor reads: every row of the statements, by its label, this year's figure.
    seen = {}
    for line in text.splitlines():
        found = trailing_amounts(line, 2)
        if found is None or found[0] not in rows:
            continue
        label, (figure, _) = found
        i = seen.get(label, 0)
        seen[label] = i + 1
        if i < len(rows[label]):
            self.compare(txt, label, str(figure), rows[label][i])
    for label, values in rows.items():
        # A row that is zero in both columns may be left out of the text (a rare line: books
        # opened during the year, income taken over at a merger); any other must be there.
        if seen.get(label, 0) < len(values) and label in figured:
            self.problems.append(f"{txt}: the row {label!r} is missing")


Figures.annual = _annual

# The figures an annual report's digest covers, in finsam's order: (its name, the statement and
# key books.annual gives it under).
DIGEST_FIGURES = [
    ("rr.staten", "resultatrakning", "medlemsbidrag_staten"),
    ("rr.region", "resultatrakning", "medlemsbidrag_region"),
    ("rr.kommuner", "resultatrakning", "medlemsbidrag_kommuner"),
    ("rr.ovriga_intakter", "resultatrakning", "ovriga_intakter"),
    ("rr.summa_intakter", "resultatrakning", "summa_intakter"),
    ("rr.personal", "resultatrakning", "personalkostnader"),
    ("rr.kopta_tjanster", "resultatrakning", "kopta_tjanster"),
    ("rr.lamnade_bidrag", "resultatrakning", "lamnade_bidrag"),
    ("rr.ovriga_kostnader", "resultatrakning", "ovriga_kostnader"),
    ("rr.summa_kostnader", "resultatrakning", "summa_kostnader"),
    ("rr.verksamhetens_resultat", "resultatrakning", "verksamhetens_resultat"),
    ("rr.finansiella_intakter", "resultatrakning", "finansiella_intakter"),
    ("rr.finansiella_kostnader", "resultatrakning", "finansiella_kostnader"),
    ("rr.arets_resultat", "resultatrakning", "arets_resultat"),
    ("br.fordringar", "balansrakning", "fordringar"),
    ("br.forutbetalda", "balansrakning", "forutbetalda_kostnader"),
    ("br.bank", "balansrakning", "kassa_och_bank"),
    ("br.tillgangar", "balansrakning", "summa_tillgangar"),
    ("br.eget_kapital_ingaende", "balansrakning", "ingaende_eget_kapital"),
    ("br.eget_kapital_bokforingen_borjade", "balansrakning", "bokforingen_borjade"),
    ("br.eget_kapital_mottaget", "balansrakning", "mottaget_eget_kapital"),
    ("br.eget_kapital_ovrigt", "balansrakning", "ovriga_forandringar"),
    ("br.eget_kapital", "balansrakning", "eget_kapital"),
    ("br.kortfristiga_skulder", "balansrakning", "kortfristiga_skulder"),
    ("br.upplupna_kostnader", "balansrakning", "upplupna_kostnader"),
    ("br.personalskulder", "balansrakning", "personalskulder"),
    ("br.skulder", "balansrakning", "summa_skulder"),
    ("kf.forandring_fordringar", "kassaflodesanalys", "forandring_fordringar"),
    ("kf.forandring_skulder", "kassaflodesanalys", "forandring_skulder"),
    ("kf.overtaget_resultat", "kassaflodesanalys", "overtagna_intakter_och_kostnader"),
    ("kf.lopande", "kassaflodesanalys", "kassaflode_verksamheten"),
    ("kf.finansiering", "kassaflodesanalys", "kassaflode_finansiering"),
    ("kf.likvida_medel_ingaende", "kassaflodesanalys", "likvida_medel_vid_arets_borjan"),
    ("kf.likvida_medel_utgaende", "kassaflodesanalys", "likvida_medel_vid_arets_slut"),
]


def canonical(value):
    """An amount as finsam's log writes it: "0", whole kronor without decimals, else two."""
    if value == 0:
        return "0"
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value:.2f}"


def figures_sha256(log_books, f, year, known_at):
    """The digest of a förbund's annual report as known at a seq (see Annual::figures_sha256)."""
    statements = log_books.annual([f], year, known_at)
    lines = [f"{f} {year}"]
    lines += [f"{name}={canonical(statements[st][key])}" for name, st, key in DIGEST_FIGURES]
    start, end = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    members, flows, closing = {}, {}, {}
    for v in log_books.visible(f, known_at, end):
        for r in v.rows:
            closing[r["role"]] = closing.get(r["role"], 0) + r["amount"]
        if v.date < start or (v.date == start and v.opening) or v.kind == "closing":
            continue
        for r in v.rows:
            flows[r["role"]] = flows.get(r["role"], 0) + r["amount"]
            if r["role"].startswith("contribution_") and r.get("member") is not None:
                members[r["member"]] = members.get(r["member"], 0) - r["amount"]
    lines += [f"medlemsbidrag.{m}={canonical(a)}" for m, a in sorted(members.items()) if a != 0]
    lines += [f"personal.{r}={canonical(flows.get(r, 0))}" for r in books.PERSONNEL if flows.get(r, 0) != 0]
    lines += [f"personal.{r}={canonical(-closing.get(r, 0))}" for r in books.PAYROLL_OWED if closing.get(r, 0) != 0]
    return hashlib.sha256(("\n".join(lines) + "\n").encode("utf-8")).hexdigest()


def check_adoptions(self):
    """Each adoption of the bundle's förbund binds to the report as known then: its digest must
    be that report's (a problem if not); a report changed since is said in a note."""
    notes = []
    for seq, f, year, known_at, digest in self.books.adoptions:
        if f != self.forbund or known_at > self.head:
            continue
        self.checked += 1
        then = figures_sha256(self.books, f, year, known_at)
        if then != digest:
            self.problems.append(f"log.jsonl line {seq}: the adoption of {year}'s report binds to {digest[:12]}…, "
                                 f"the report as known at {known_at} is {then[:12]}…")
        elif figures_sha256(self.books, f, year, self.head) != digest:
            notes.append(f"the {year} report adopted in event {seq} differs from the books now")
    return notes


Figures.check_adoptions = check_adoptions


def check_underlag(self, base):
    """Each file attached as underlag to the bundle's förbund is in the bundle under
    underlag/<sha256>, with the size and SHA-256 its event names."""
    for seq, f, _of, file in self.books.underlag:
        if f != self.forbund:
            continue
        self.checked += 1
        path = os.path.join(base, "underlag", file["sha256"])
        if not os.path.isfile(path):
            self.problems.append(f"log.jsonl line {seq}: underlag {file['name']!r} ({file['sha256'][:12]}…) is not in the bundle")
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != file["sha256"] or len(data) != file["size"]:
            self.problems.append(f"log.jsonl line {seq}: underlag/{file['sha256']} is not the file the event names "
                                 f"({len(data)} bytes, SHA-256 {hashlib.sha256(data).hexdigest()[:12]}…)")


Figures.check_underlag = check_underlag

RECOMPUTED = {"saldon-": Figures.balances, "budgetlage-": Figures.budget, "handelser-": Figures.trail,
              "arsredovisning-": Figures.annual}


def verify_figures(base):
    """Recomputes the figures of the bundle's reports from its log: the problems, how many
    figures were compared, and the reports this verifier does not recompute."""
    with open(os.path.join(base, "DIGEST"), "r", encoding="utf-8") as f:
        digest = f.read().strip()
    problems, head, _unfinished, _torn, envelopes = verify(os.path.join(base, "log.jsonl"), [digest])
    problems = [f"log.jsonl line {seq}: {p}" for seq, p in problems]
    if f"{head[0]}:{head[1]}" != digest:
        problems.append(f"log.jsonl ends at {head[0]}:{head[1]}, DIGEST says {digest}")
    names = sorted(os.listdir(os.path.join(base, "reports")))
    balances = [n for n in names if re.fullmatch(r"saldon-\d{4}-12-31\.json", n)]
    if len(balances) != 1:
        problems.append(f"reports/ holds {len(balances)} balance reports (saldon-YYYY-12-31.json), not one")
    if problems:
        return problems, 0, []
    year = int(balances[0][len("saldon-"):][:4])
    figures = Figures(base, envelopes, head[0])

    def read(name):
        with open(os.path.join(base, "reports", name), "r", encoding="utf-8") as f:
            text = f.read()
        return json.loads(text, parse_float=Decimal) if name.endswith(".json") else text

    figures.forbund = read(balances[0]).get("forbund")
    if figures.forbund not in figures.books.forbund:
        return [f"reports/{balances[0]}: förbund {figures.forbund!r} is not in the log"], 0, []
    needed = [balances[0], f"handelser-{year}.json", f"arsredovisning-{year}.json"]
    if figures.books.budget_position(figures.forbund, year, books.datetime.date(year, 12, 31), head[0]):
        needed.append(f"budgetlage-{year}.json")
    for name in needed:
        for twin in (name, name[:-5] + ".txt"):
            if twin not in names:
                figures.problems.append(f"reports/{twin} is missing")
    skipped = []
    for name in names:
        check = next((c for prefix, c in RECOMPUTED.items() if name.startswith(prefix)), None)
        if not name.endswith(".json") or name[:-5] + ".txt" not in names:
            continue
        if check is None or name not in needed:
            skipped.append(f"reports/{name}")
            continue
        try:
            check(figures, name, read(name), read(name[:-5] + ".txt"))
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as e:
            figures.problems.append(f"reports/{name}: not a report of the shape finsam writes ({type(e).__name__}: {e})")
    # The board's adoptions of the förbund's reports, each bound to the books as they stood.
    skipped.extend(figures.check_adoptions())
    # The underlag the log names, byte for byte.
    figures.check_underlag(base)
    return figures.problems, figures.checked, skipped


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    if argv[0] == "--manifest":
        if len(argv) != 2:
            print("usage: verify_chain.py --manifest MANIFEST", file=sys.stderr)
            return 2
        return verify_manifest(argv[1])
    path, digests = argv[0], []
    rest = argv[1:]
    while rest:
        if rest[0] == "--digest" and len(rest) > 1:
            digests.append(rest[1])
            rest = rest[2:]
        else:
            print(f"unknown argument {rest[0]!r}", file=sys.stderr)
            return 2
    problems, head, unfinished, torn, _ = verify(path, digests)
    for seq, problem in problems:
        print(f"BAD line {seq}: {problem}")
    if unfinished or torn:
        print(f"note: an unfinished batch at the end ({unfinished} complete line(s), {torn} byte(s) of a partial line), never acknowledged")
    verdict = "OK" if not problems else "BAD"
    print(f"{verdict} events={head[0]} head={head[0]}:{head[1]}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
