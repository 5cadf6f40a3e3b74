#!/usr/bin/env python3
"""Reads a Beancount file with Beancount's own loader and prints, as JSON, what it says of each
förbund and year: the year's income and costs (as finsam signs them: income positive, costs
positive) and every asset and liability account's balance at the year's end (debit positive).
Any error the loader reports is printed and the exit code is 1.

Usage: python3 tests/beancount_figures.py FILE.beancount
"""
import json
import sys
from collections import defaultdict
from decimal import Decimal

from beancount import loader
from beancount.core import data


def main(path):
    entries, errors, _options = loader.load_file(path)
    if errors:
        for e in errors:
            print(f"{e.source.get('lineno', '?')}: {e.message}", file=sys.stderr)
        return 1
    moves = []  # (year, root, förbund, number, amount)
    for e in entries:
        if isinstance(e, data.Transaction):
            for p in e.postings:
                root, forbund, number = p.account.split(":")
                assert p.units.currency == "SEK", p
                moves.append((e.date.year, root, forbund.lower(), number, p.units.number))
    years = sorted({m[0] for m in moves})
    out = defaultdict(dict)
    for forbund in sorted({m[2] for m in moves}):
        for year in years:
            income = -sum((a for y, r, f, _, a in moves if f == forbund and y == year and r == "Income"), Decimal(0))
            costs = sum((a for y, r, f, _, a in moves if f == forbund and y == year and r == "Expenses"), Decimal(0))
            balances = defaultdict(Decimal)
            for y, r, f, n, a in moves:
                if f == forbund and y <= year and r in ("Assets", "Liabilities"):
                    balances[n] += a
            out[forbund][str(year)] = {
                "income": str(income),
                "costs": str(costs),
                "accounts": {n: str(a) for n, a in sorted(balances.items()) if a != 0},
            }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
