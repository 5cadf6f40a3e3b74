"""The posting rules of finsam, written a second time with nothing but Python's standard library.

finsam (in Rust) folds the events of a log into vouchers, budgets and grants, and computes its
reports from them. This module does the same from the log alone, following POSTING.md, so that
a revisor can recompute the figures of a bundle's reports without trusting finsam. It assumes a
log that verify_chain.py has found whole: every event in it was accepted by finsam's ledger.

Amounts are decimal.Decimal in kronor (never floats); a debit is positive, a credit negative.
"""
import datetime
from decimal import Decimal, ROUND_HALF_EVEN

# The roles a voucher row posts to (a chart maps each to an account), with their side.
SIDES = {
    "bank": "asset",
    "opening_difference_asset": "asset",
    "equity": "equity",
    "equity_received": "equity",
    "opening_difference_liability": "liability",
    "contribution_staten": "income",
    "contribution_region": "income",
    "contribution_kommun": "income",
    "other_income": "income",
    "cost_individ": "cost",
    "cost_struktur": "cost",
    "cost_admin": "cost",
    "cost_personal": "cost",
    "cost_kopta_tjanster": "cost",
    "cost_ovrigt": "cost",
    "cost_finansiell": "cost",
    "financial_income": "income",
    "payable": "liability",
    "accrued_asset": "asset",
    "accrued_liability": "liability",
    "receivable": "asset",
    "cost_loner": "cost",
    "cost_arvoden": "cost",
    "cost_arbetsgivaravgifter": "cost",
    "cost_pension": "cost",
    "cost_sarskild_loneskatt": "cost",
    "cost_semesterloneskuld": "cost",
    "personalens_kallskatt": "liability",
    "upplupna_arbetsgivaravgifter": "liability",
    "upplupen_pension": "liability",
    "upplupen_sarskild_loneskatt": "liability",
    "semesterloneskuld": "liability",
}
# A payroll summary's items, in contract order: (cost role, liability role); salaries and fees
# are paid from the bank, the tax withheld stays in it (owed to Skatteverket).
PAYROLL = {
    "salaries": ("cost_loner", None),
    "fees": ("cost_arvoden", None),
    "tax_withheld": (None, "personalens_kallskatt"),
    "employer_contributions": ("cost_arbetsgivaravgifter", "upplupna_arbetsgivaravgifter"),
    "pension": ("cost_pension", "upplupen_pension"),
    "special_payroll_tax": ("cost_sarskild_loneskatt", "upplupen_sarskild_loneskatt"),
    "vacation_pay_change": ("cost_semesterloneskuld", "semesterloneskuld"),
    "vacation_pay_contributions": ("cost_arbetsgivaravgifter", "upplupna_arbetsgivaravgifter"),
}
PERSONNEL = ("cost_personal", "cost_loner", "cost_arvoden", "cost_arbetsgivaravgifter", "cost_pension",
             "cost_sarskild_loneskatt", "cost_semesterloneskuld")
PAYROLL_OWED = ("personalens_kallskatt", "upplupna_arbetsgivaravgifter", "upplupen_pension",
                "upplupen_sarskild_loneskatt", "semesterloneskuld")
CATEGORIES = ["individ", "struktur", "admin"]
# The natures whose costs post to an account of their own (grants given post to the category's).
OWN_ACCOUNT_NATURES = ("personal", "kopta_tjanster", "ovrigt", "finansiell")
OPENING_TEXT = "Ingående balans"


def is_result(role):
    return SIDES[role] in ("income", "cost")


def amount(text):
    """An amount of the log: a string of kronor with at most 2 decimals."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"{text!r} is not an amount")
    value = Decimal(str(text))
    if not value.is_finite() or value.as_tuple().exponent < -2:
        raise ValueError(f"{text!r} is not an amount of kronor with at most 2 decimals")
    return value


def day(text):
    return datetime.date.fromisoformat(text)


class Voucher:
    __slots__ = ("forbund", "year", "number", "date", "seq", "kind", "opening", "rows", "reverses_opening")

    def __init__(self, forbund, number, date, seq, kind, opening, rows, reverses_opening=False):
        self.forbund, self.year, self.number, self.date = forbund, date.year, number, date
        self.seq, self.kind, self.opening, self.rows = seq, kind, opening, rows
        # A correction of an opening balance: it moves what that moved, the other way.
        self.reverses_opening = reverses_opening

    def label(self):
        return f"{self.year} A {self.number}"


def row(role, value, insats=None, line=None, member=None):
    return {"role": role, "amount": value, "insats": insats, "line": line, "member": member}


class Books:
    """Every event of a log folded in, in seq order: the posting rules of POSTING.md."""

    def __init__(self):
        self.head = 0
        self.forbund = {}  # slug -> {"name", "members": {id: kind}}
        self.vouchers = []
        self.by_seq = {}  # seq -> [index in vouchers]
        self.budgets = []  # dicts, in seq order
        self.grants = []  # dicts, in seq order
        self.insatser = {}  # (forbund, insats) -> category
        self.insats_changes = {}  # (forbund, insats) -> [(effective, seq, category or None)]
        self.corrected = {}  # corrected seq -> (correcting seq, date)
        self.next_number = {}  # (forbund, year) -> next voucher number
        self.year_results = {}  # (forbund, year) -> {role: amount}
        self.invoices = {}  # (forbund, invoice) -> {"supplier", "line", "insats", "year"}
        self.owed = {}  # (forbund, member, year) -> [decided, settled]
        self.contribution_effects = {}  # seq -> (key, decided, settled)
        self.adoptions = []  # (seq, forbund, year, known_at, figures_sha256)
        self.underlag = []  # (seq, forbund, of, file)

    def apply(self, seq, event):
        if seq != self.head + 1:
            raise ValueError(f"seq {seq} follows seq {self.head}")
        self.head = seq
        kind, f, date = event["type"], event["forbund"], day(event["date"])
        handler = getattr(self, "_" + kind, None)
        if handler is None:
            raise ValueError(f"seq {seq}: no posting rule for the event type {kind!r}")
        handler(seq, f, date, event)

    # -- one method per event type -------------------------------------------------------------

    def _ForbundRegistered(self, seq, f, date, e):
        self.forbund[f] = {"name": e["name"], "members": {m["id"]: m["kind"] for m in e["members"]}}

    def _OpeningBalanceRecorded(self, seq, f, date, e):
        equity, bank = amount(e["equity"]), amount(e["bank"])
        rows = [row("bank", bank), row("equity", -equity)]
        difference = equity - bank
        if difference > 0:
            rows.append(row("opening_difference_asset", difference))
        elif difference < 0:
            rows.append(row("opening_difference_liability", difference))
        self._book(seq, f, date, "event", rows, opening=True)

    def _InsatsCreated(self, seq, f, date, e):
        self.insatser[(f, e["insats"])] = e["category"]

    def _BudgetAdopted(self, seq, f, date, e):
        self.budgets.append({
            "seq": seq,
            "forbund": f,
            "date": date,
            "year": e["year"],
            "status": e.get("status") or "adopted",
            "decision": e["decision"],
            "income": [{"id": l["id"], "amount": amount(l["amount"])} for l in e["income"]],
            "costs": [
                {"id": l["id"], "name": l["name"], "category": l["category"], "insats": l.get("insats"),
                 "amount": amount(l["amount"]), "nature": l.get("nature")}
                for l in e["costs"]
            ],
            "transfers": [amount(t["amount"]) for t in e.get("transfers") or []],
            "opening_equity": amount(e["stated"]["opening_equity"])
            if (e.get("stated") or {}).get("opening_equity") is not None
            else None,
            "corrected": None,
        })

    def _FundingGranted(self, seq, f, date, e):
        self._grant(seq, f, e["insats"], e["year"], date, amount(e["amount"]))

    def _FundingChanged(self, seq, f, date, e):
        self._grant(seq, f, e["insats"], e["year"], date, amount(e["delta"]))

    def _ContributionReceived(self, seq, f, date, e):
        value, member = amount(e["amount"]), e["member"]
        kind = self.forbund[f]["members"][member]
        # A payment first settles what was decided for the member and year; the rest is income.
        key = (f, member, e["year"])
        owed = self.owed.setdefault(key, [Decimal(0), Decimal(0)])
        outstanding = owed[0] - owed[1]
        settles = min(value, outstanding) if outstanding > 0 else Decimal(0)
        owed[1] += settles
        self.contribution_effects[seq] = (key, Decimal(0), settles)
        rows = [row("bank", value)]
        if settles != 0:
            rows.append(row("receivable", -settles, member=member))
        if settles < value:
            rows.append(row("contribution_" + kind, settles - value, member=member))
        self._book(seq, f, date, "event", rows)

    def _ContributionDecided(self, seq, f, date, e):
        value, member = amount(e["amount"]), e["member"]
        kind = self.forbund[f]["members"][member]
        key = (f, member, e["year"])
        self.owed.setdefault(key, [Decimal(0), Decimal(0)])[0] += value
        self.contribution_effects[seq] = (key, value, Decimal(0))
        self._book(seq, f, date, "event", [row("receivable", value, member=member), row("contribution_" + kind, -value, member=member)])

    def _OtherIncomeRecorded(self, seq, f, date, e):
        value = amount(e["amount"])
        # Interest and other financial income (nature `finansiell`) is a finansiell post.
        role = "financial_income" if e.get("nature") == "finansiell" else "other_income"
        self._book(seq, f, date, "event", [row("bank", value), row(role, -value, line=e["line"])])

    def _cost_row(self, seq, f, date, year, line, insats, value, nature=None):
        """The cost row: the category of the line in the budget in force for `year` when it was
        recorded (at `seq`), else the insats' on the event's date; the insats the event's, else
        the line's."""
        budget_line = None
        if line is not None:
            budget = self.budget_in_force(f, year, seq, datetime.date.max)
            if budget is not None:
                budget_line = next((l for l in budget["costs"] if l["id"] == line), None)
            else:
                # Before its year's budget: the line as the latest earlier budget had it (the
                # account only; the cost counts against the line once a budget adopts it).
                for earlier_year in range(year - 1, 1999, -1):
                    earlier = self.budget_in_force(f, earlier_year, seq, datetime.date.max)
                    found = next((l for l in earlier["costs"] if l["id"] == line), None) if earlier else None
                    if found is not None:
                        category, earlier_nature = found["category"], found["nature"]
                        nature = nature if nature is not None else earlier_nature
                        own = nature in OWN_ACCOUNT_NATURES
                        role = "cost_" + nature if own else "cost_" + category
                        return row(role, value, insats=insats, line=line)
        if budget_line is None and insats is None and nature in OWN_ACCOUNT_NATURES:
            return row("cost_" + nature, value, insats=insats, line=line)
        if budget_line is not None:
            category = budget_line["category"]
        elif insats is not None:
            category = self.insatser[(f, insats)]
            changes = sorted(c for c in self.insats_changes.get((f, insats), []) if c[0] <= date)
            for _, _, changed in changes:  # by date, then in order of record
                category = changed if changed is not None else category
        else:
            raise ValueError(f"seq {seq}: a cost on no line of a budget and no insats")
        if insats is None and budget_line is not None:
            insats = budget_line["insats"]
        if nature is None and budget_line is not None:
            nature = budget_line["nature"]
        # The nature's account for the förbund's own staff, purchased services and other costs;
        # the category's for grants given (and v1).
        role = "cost_" + nature if nature in OWN_ACCOUNT_NATURES else "cost_" + category
        return row(role, value, insats=insats, line=line)

    def _CostRecorded(self, seq, f, date, e):
        value = amount(e["amount"])
        cost = self._cost_row(seq, f, date, e["year"], e.get("line"), e.get("insats"), value, e.get("nature"))
        self._book(seq, f, date, "event", [cost, row("bank", -value)])

    def _InvoiceReceived(self, seq, f, date, e):
        value, line, insats, year = amount(e["amount"]), e.get("line"), e.get("insats"), e["year"]
        credited = self.invoices.get((f, e["credits"])) if e.get("credits") else None
        if credited is not None:  # a credit note charges what its invoice was charged to
            line = line if line is not None else credited["line"]
            insats = insats if insats is not None else credited["insats"]
            year = credited["year"]
        self.invoices[(f, e["invoice"])] = {"supplier": e["supplier"], "line": line, "insats": insats, "year": year}
        cost = self._cost_row(seq, f, date, year, line, insats, value, e.get("nature"))
        self._book(seq, f, date, "event", [cost, row("payable", -value)])

    def _AccrualRecorded(self, seq, f, date, e):
        value, kind, year = amount(e["amount"]), e["kind"], e["year"]

        def moved(sign):  # the cost or income moved between years
            if kind in ("upplupen_kostnad", "forutbetald_kostnad"):
                return self._cost_row(seq, f, date, year, e.get("line"), e.get("insats"), sign)
            if e.get("member") is not None:
                member_kind = self.forbund[f]["members"][e["member"]]
                return row("contribution_" + member_kind, sign, member=e["member"])
            return row("other_income", sign, line=e.get("line"))

        rows = {
            "upplupen_kostnad": lambda: [moved(value), row("accrued_liability", -value)],
            "forutbetald_kostnad": lambda: [row("accrued_asset", value), moved(-value)],
            "upplupen_intakt": lambda: [row("accrued_asset", value), moved(-value)],
            "forutbetald_intakt": lambda: [moved(value), row("accrued_liability", -value)],
        }[kind]()
        self._book(seq, f, date, "event", rows)
        reversal = [dict(r, amount=-r["amount"]) for r in rows]
        self._book(seq, f, datetime.date(year + 1, 1, 1), "event", reversal)

    def _PayrollRecorded(self, seq, f, date, e):
        # The cost rows carry what a personnel cost on the line would (its line and insats).
        target = self._cost_row(seq, f, date, e["year"], e.get("line"), e.get("insats"), Decimal(0), "personal")
        rows = []

        def add(role, value, on_line):
            for r in rows:
                if r["role"] == role:
                    r["amount"] += value
                    return
            rows.append(row(role, value, target["insats"], target["line"]) if on_line else row(role, value))

        for item, (cost, owed) in PAYROLL.items():
            if e.get(item) is None:
                continue
            value = amount(e[item])
            if cost is not None:
                add(cost, value, True)
            if owed is not None:
                add(owed, -value, False)
            if cost is None or owed is None:  # paid out (salaries, fees) or kept back (tax)
                add("bank", -value if owed is None else value, False)
        rows = [r for r in rows if r["amount"] != 0]
        if rows:
            self._book(seq, f, date, "event", rows)

    def _PayrollLiabilitiesPaid(self, seq, f, date, e):
        rows, total = [], Decimal(0)
        for item, (_, owed) in PAYROLL.items():
            if e.get(item) is not None and amount(e[item]) != 0:
                rows.append(row(owed, amount(e[item])))
                total += amount(e[item])
        rows.append(row("bank", -total))
        self._book(seq, f, date, "event", rows)

    def _InvoicePaid(self, seq, f, date, e):
        value = amount(e["amount"])
        self._book(seq, f, date, "event", [row("payable", value), row("bank", -value)])

    def _MergerDecided(self, seq, f, date, e):
        pass

    def _EquityTransferred(self, seq, f, date, e):
        value, source = amount(e["amount"]), e["from"]
        self._book(seq, source, date, "event", [row("equity", value), row("bank", -value)])
        self._book(seq, f, date, "event", [row("bank", value), row("equity_received", -value)])

    def _BalancesTakenOver(self, seq, f, date, e):
        # Every asset and liability of the old books as they stand, and every income and cost
        # they carry from the takeover's day on, move role by role; equity takes the difference.
        # (Income and costs keep the insats, line and member they were about.)
        source, moved = e["from"], {}
        for v in self.vouchers:
            if v.forbund != source:
                continue
            for r in v.rows:
                if SIDES[r["role"]] in ("asset", "liability"):
                    key = (r["role"], None, None, None)
                elif is_result(r["role"]) and v.date >= date:
                    key = (r["role"], r["insats"], r["line"], r["member"])
                else:
                    continue
                moved[key] = moved.get(key, Decimal(0)) + r["amount"]
        moved = {key: value for key, value in moved.items() if value != 0}
        net = sum(moved.values(), Decimal(0))

        def rows(sign):
            return [row(k[0], sign * value, insats=k[1], line=k[2], member=k[3]) for k, value in moved.items()]

        self._book(seq, source, date, "event", rows(-1) + [row("equity", net)])
        new = rows(1) + [row("equity_received", -net)]
        self._book(seq, f, date, "event", new)
        for (owner, member, year), (decided, settled) in list(self.owed.items()):
            if owner == source:  # what members owe moves with the books
                into = self.owed.setdefault((f, member, year), [Decimal(0), Decimal(0)])
                into[0] += decided
                into[1] += settled

    def _MembersChanged(self, seq, f, date, e):
        # Every member the förbund has had keeps its kind; new members join the list.
        self.forbund[f]["members"].update({m["id"]: m["kind"] for m in e["members"]})

    def _InsatsChanged(self, seq, f, date, e):
        change = (day(e["effective"]), seq, e.get("category"))
        self.insats_changes.setdefault((f, e["insats"]), []).append(change)

    def _RegistrationCorrected(self, seq, f, date, e):
        if e.get("name") is not None:
            self.forbund[f]["name"] = e["name"]

    def _ForecastRecorded(self, seq, f, date, e):
        pass  # a forecast moves no money: the follow-up reads it, the books do not

    def _ForbundDissolved(self, seq, f, date, e):
        pass

    # The report's text and the path after the year's end (adopted, audited, discharged) book
    # nothing; the adoptions are kept, to check what they bind to.
    def _ReportTextRecorded(self, seq, f, date, e):
        pass

    def _AnnualReportAdopted(self, seq, f, date, e):
        self.adoptions.append((seq, f, e["year"], e["known_at"], e["figures_sha256"]))

    def _AuditReportRecorded(self, seq, f, date, e):
        pass

    def _DischargeDecided(self, seq, f, date, e):
        pass

    # Underlag books nothing; the files are kept, for the verifier to check their hashes.
    def _UnderlagAttached(self, seq, f, date, e):
        self.underlag.append((seq, f, e["of"], e["file"]))

    def _YearClosed(self, seq, f, date, e):
        year = e["year"]
        by_role = self.year_results.get((f, year), {})
        rows = [row(role, -value) for role, value in by_role.items() if value != 0]
        to_equity = sum(by_role.values(), Decimal(0))
        if to_equity != 0 or rows:
            rows.append(row("equity", to_equity))
            self._book(seq, f, datetime.date(year, 12, 31), "closing", rows)

    def _EventCorrected(self, seq, f, date, e):
        corrects = e["corrects"]
        self.corrected[corrects] = (seq, date)
        for i in list(self.by_seq.get(corrects, [])):
            original = self.vouchers[i]
            rows = [dict(r, amount=-r["amount"]) for r in original.rows]
            self._book(seq, original.forbund, date, "correction", rows, reverses_opening=original.opening)
        if corrects in self.contribution_effects:
            key, decided, settled = self.contribution_effects[corrects]
            self.owed[key][0] -= decided
            self.owed[key][1] -= settled
        for g in [g for g in self.grants if g["seq"] == corrects]:
            self.grants.append(dict(g, seq=seq, date=date, amount=-g["amount"]))
        for b in self.budgets:
            if b["seq"] == corrects:
                b["corrected"] = (seq, date)

    # -- helpers -------------------------------------------------------------------------------

    def _grant(self, seq, f, insats, year, date, value):
        self.grants.append({"seq": seq, "forbund": f, "insats": insats, "year": year, "date": date, "amount": value})

    def _book(self, seq, f, date, kind, rows, opening=False, reverses_opening=False):
        total = sum((r["amount"] for r in rows), Decimal(0))
        if total != 0:
            raise ValueError(f"seq {seq}: a voucher of {f} does not balance (its rows sum to {total})")
        key = (f, date.year)
        number = self.next_number.get(key, 1)
        self.next_number[key] = number + 1
        voucher = Voucher(f, number, date, seq, kind, opening, rows, reverses_opening)
        self.by_seq.setdefault(seq, []).append(len(self.vouchers))
        self.vouchers.append(voucher)
        results = self.year_results.setdefault(key, {})
        for r in rows:  # the result roles and equity received: a year's close moves both to equity
            if is_result(r["role"]) or r["role"] == "equity_received":
                results[r["role"]] = results.get(r["role"], Decimal(0)) + r["amount"]

    def budget_in_force(self, f, year, known_at, as_of):
        """The latest adopted budget of the year, else the latest outlook, not withdrawn."""
        def visible(b):
            withdrawn = b["corrected"] is not None and b["corrected"][0] <= known_at and b["corrected"][1] <= as_of
            return b["forbund"] == f and b["year"] == year and b["seq"] <= known_at and b["date"] <= as_of and not withdrawn

        for status in ("adopted", "outlook"):
            found = [b for b in self.budgets if visible(b) and b["status"] == status]
            if found:
                return max(found, key=lambda b: b["seq"])
        return None

    def visible(self, f, known_at, as_of):
        return [v for v in self.vouchers if v.forbund == f and v.seq <= known_at and v.date <= as_of]

    # -- the reports ---------------------------------------------------------------------------

    def balances(self, f, as_of, known_at, chart):
        """The trial balance (every account with an entry) and the key figures."""
        by_role, income, costs = {}, Decimal(0), Decimal(0)
        vouchers = self.visible(f, known_at, as_of)
        for v in vouchers:
            this_year = v.date.year == as_of.year and v.kind != "closing"
            for r in v.rows:
                by_role[r["role"]] = by_role.get(r["role"], Decimal(0)) + r["amount"]
                if this_year and SIDES[r["role"]] == "income":
                    income -= r["amount"]
                elif this_year and SIDES[r["role"]] == "cost":
                    costs += r["amount"]
        accounts = {}
        for role, value in by_role.items():
            number = chart[role][0]
            accounts[number] = accounts.get(number, Decimal(0)) + value

        def of(sides):
            return sum((a for role, a in by_role.items() if SIDES[role] in sides), Decimal(0))

        return {
            "name": self.forbund[f]["name"],
            "bank": by_role.get("bank", Decimal(0)),
            "equity": -of(("equity", "income", "cost")),
            "income": income,
            "costs": costs,
            "result": income - costs,
            "vouchers": len(vouchers),
            "accounts": accounts,
        }

    def annual(self, fs, year, known_at):
        """The statements of an annual report (as `finsam report annual` prints them) for the
        förbund `fs` added together (one, or a merger's predecessors): per statement, per key,
        the amount of the year."""
        start, end = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        # capital: the rows of vouchers that move equity other than by the result (books opened
        # during the year, equity received or handed over at a merger); opened: the equity and
        # cash of books opened during the year.
        opening, closing, flows, capital = {}, {}, {}, {}
        opened = {"equity": Decimal(0), "bank": Decimal(0)}

        def add(sums, role, value):
            sums[role] = sums.get(role, Decimal(0)) + value

        for f in fs:
            for v in self.visible(f, known_at, end):
                # An opening balance dated 1 January is where the year begins.
                before = v.date < start or (v.date == start and v.opening)
                books_opened = v.opening or v.reverses_opening
                is_capital = (not before and v.kind in ("event", "correction")
                              and (books_opened or any(r["role"] in ("equity", "equity_received") for r in v.rows)))
                for r in v.rows:
                    add(closing, r["role"], r["amount"])
                    if before:
                        add(opening, r["role"], r["amount"])
                    elif v.kind != "closing":
                        add(flows, r["role"], r["amount"])
                        if is_capital:
                            add(capital, r["role"], r["amount"])
                        if is_capital and books_opened and r["role"] in ("equity", "bank"):
                            opened[r["role"]] += r["amount"]

        def of(sums, *roles):
            return sum((sums.get(role, Decimal(0)) for role in roles), Decimal(0))

        rr = {
            "medlemsbidrag_staten": -of(flows, "contribution_staten"),
            "medlemsbidrag_region": -of(flows, "contribution_region"),
            "medlemsbidrag_kommuner": -of(flows, "contribution_kommun"),
            "ovriga_intakter": -of(flows, "other_income"),
            "personalkostnader": -of(flows, *PERSONNEL),
            "kopta_tjanster": -of(flows, "cost_kopta_tjanster"),
            # Lämnade bidrag are grants to insatser; administration without a nature is an
            # other cost (administration is a category, never a nature).
            "lamnade_bidrag": -of(flows, "cost_individ", "cost_struktur"),
            "ovriga_kostnader": -of(flows, "cost_ovrigt", "cost_admin"),
            "finansiella_intakter": -of(flows, "financial_income"),
            "finansiella_kostnader": -of(flows, "cost_finansiell"),
        }
        rr["finansiella_poster"] = rr["finansiella_intakter"] + rr["finansiella_kostnader"]
        rr["summa_intakter"] = sum((rr[k] for k in ("medlemsbidrag_staten", "medlemsbidrag_region",
                                                    "medlemsbidrag_kommuner", "ovriga_intakter")), Decimal(0))
        rr["summa_kostnader"] = sum((rr[k] for k in ("personalkostnader", "kopta_tjanster", "lamnade_bidrag",
                                                     "ovriga_kostnader")), Decimal(0))
        rr["verksamhetens_resultat"] = rr["summa_intakter"] + rr["summa_kostnader"]
        rr["arets_resultat"] = rr["verksamhetens_resultat"] + rr["finansiella_poster"]
        equity_roles = [role for role, side in SIDES.items() if side in ("equity", "income", "cost")]
        br = {
            "fordringar": of(closing, "receivable", "opening_difference_asset"),
            "forutbetalda_kostnader": of(closing, "accrued_asset"),
            "kassa_och_bank": of(closing, "bank"),
            "ingaende_eget_kapital": -of(opening, *equity_roles),
            "bokforingen_borjade": -opened["equity"],
            "mottaget_eget_kapital": -of(flows, "equity_received"),
            "ovriga_forandringar": -of(flows, "equity") + opened["equity"],
            "arets_resultat": rr["arets_resultat"],
            "kortfristiga_skulder": -of(closing, "payable", "opening_difference_liability"),
            "upplupna_kostnader": -of(closing, "accrued_liability"),
            "personalskulder": -of(closing, *PAYROLL_OWED),
        }
        br["summa_tillgangar"] = br["fordringar"] + br["forutbetalda_kostnader"] + br["kassa_och_bank"]
        br["eget_kapital"] = (br["ingaende_eget_kapital"] + br["bokforingen_borjade"] + br["mottaget_eget_kapital"]
                              + br["ovriga_forandringar"] + br["arets_resultat"])
        br["summa_skulder"] = br["kortfristiga_skulder"] + br["upplupna_kostnader"] + br["personalskulder"]
        br["summa_eget_kapital_och_skulder"] = br["eget_kapital"] + br["summa_skulder"]
        non_cash = ("receivable", "opening_difference_asset", "accrued_asset")
        short = ("payable", "opening_difference_liability", "accrued_liability") + PAYROLL_OWED
        result_roles = [role for role, side in SIDES.items() if side in ("income", "cost")]

        def change(*roles):
            # What the year's operations did to the bank through these accounts: what came or
            # left with equity is left out.
            return of(opening, *roles) - (of(closing, *roles) - of(capital, *roles))

        kf = {
            "arets_resultat": rr["arets_resultat"],
            "forandring_fordringar": change(*non_cash),
            "forandring_skulder": change(*short),
            "overtagna_intakter_och_kostnader": of(capital, *result_roles),
            "likvida_medel_vid_sammanlaggning": of(capital, "bank") - opened["bank"],
            "likvida_medel_nar_bokforingen_borjade": opened["bank"],
            "likvida_medel_vid_arets_borjan": of(opening, "bank"),
        }
        kf["kassaflode_verksamheten"] = (kf["arets_resultat"] + kf["forandring_fordringar"] + kf["forandring_skulder"]
                                         + kf["overtagna_intakter_och_kostnader"])
        kf["kassaflode_finansiering"] = (kf["likvida_medel_vid_sammanlaggning"]
                                         + kf["likvida_medel_nar_bokforingen_borjade"])
        kf["arets_kassaflode"] = kf["kassaflode_verksamheten"] + kf["kassaflode_finansiering"]
        kf["likvida_medel_vid_arets_slut"] = kf["likvida_medel_vid_arets_borjan"] + kf["arets_kassaflode"]
        return {"resultatrakning": rr, "balansrakning": br, "kassaflodesanalys": kf}

    def budget_position(self, f, year, as_of, known_at):
        """Where a year's budget stands: per line budget, granted, spent, and the totals."""
        budget = self.budget_in_force(f, year, known_at, as_of)
        if budget is None:
            return None
        lines = [dict(l, budget=l["amount"], granted=Decimal(0), spent=Decimal(0)) for l in budget["costs"]]
        seen = set()
        for l in lines:  # a grant belongs to the first line that names its insats
            if l["insats"] is not None and l["insats"] not in seen:
                seen.add(l["insats"])
                l["granted"] = sum(
                    (g["amount"] for g in self.grants
                     if g["forbund"] == f and g["insats"] == l["insats"] and g["year"] == year
                     and g["seq"] <= known_at and g["date"] <= as_of),
                    Decimal(0),
                )
        unbudgeted, received = Decimal(0), Decimal(0)
        for v in self.visible(f, known_at, as_of):
            if v.year != year or v.kind == "closing":
                continue
            for r in v.rows:
                side = SIDES[r["role"]]
                if side == "cost":
                    at = next((i for i, l in enumerate(lines) if r["line"] is not None and l["id"] == r["line"]), None)
                    if at is None and r["insats"] is not None:
                        at = next((i for i, l in enumerate(lines) if l["insats"] == r["insats"]), None)
                    if at is None:
                        unbudgeted += r["amount"]
                    else:
                        lines[at]["spent"] += r["amount"]
                elif side == "income":
                    received -= r["amount"]
        by_category = {
            c: {k: sum((l[k] for l in lines if l["category"] == c), Decimal(0)) for k in ("budget", "granted", "spent")}
            for c in CATEGORIES
        }
        costs_total = sum((l["budget"] for l in lines), Decimal(0))
        income_total = sum((l["amount"] for l in budget["income"]), Decimal(0))
        transfers_in = sum(budget["transfers"], Decimal(0))
        if budget["opening_equity"] is not None:
            opening, source = budget["opening_equity"], "stated"
        else:
            opening, source = self._opening_equity_booked(f, year, known_at), "booked"
        result = income_total - costs_total
        direct = by_category["individ"]["budget"] + by_category["struktur"]["budget"]
        return {
            "budget_seq": budget["seq"],
            "status": budget["status"],
            "lines": lines,
            "unbudgeted_spent": unbudgeted,
            "by_category": by_category,
            "costs_total": costs_total,
            "income_total": income_total,
            "income_received": received,
            "result": result,
            "opening_equity": opening,
            "opening_equity_source": source,
            "transfers_in": transfers_in,
            "closing_equity": opening + result + transfers_in,
            "shares": {
                "admin_of_costs": share(by_category["admin"]["budget"], costs_total),
                "individ_of_direct": share(by_category["individ"]["budget"], direct),
                "struktur_of_direct": share(by_category["struktur"]["budget"], direct),
            },
        }

    def _opening_equity_booked(self, f, year, known_at):
        """Equity booked before the year, plus opening balances dated within it."""
        start = datetime.date(year, 1, 1)
        equity = Decimal(0)
        for v in self.visible(f, known_at, datetime.date(year, 12, 31)):
            if v.date < start or (v.opening and v.year == year):
                equity -= sum((r["amount"] for r in v.rows if SIDES[r["role"]] in ("equity", "income", "cost")), Decimal(0))
        return equity


def takes_grants(line):
    """Grants are decided against a line that names an insats or is not admin (see POSTING.md)."""
    return line["insats"] is not None or line["category"] != "admin"


def share(part, whole):
    if whole == 0:
        return None
    return (part / whole).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


def read_chart(text):
    """A chart file: every role mapped to (account, name)."""
    import json

    chart = json.loads(text)
    by_role = {}
    for a in chart["accounts"]:
        by_role[a["role"]] = (a["account"], a["name"])
    missing = sorted(set(SIDES) - set(by_role))
    if missing:
        raise ValueError(f"the chart maps no account to the role(s) {', '.join(missing)}")
    return chart["chart"], by_role
