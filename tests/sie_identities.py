#!/usr/bin/env python3
"""Prints the balance identities of SIE 4 files for year 0, with nothing but Python's standard
library: Σ#IB, Σ#UB + Σ#RES (both 0), the largest |#IB + Σ#TRANS − #UB| over the balance
accounts and |Σ#TRANS − #RES| over the result accounts (both 0), and Σ#RES.

Usage: python3 tests/sie_identities.py FILE.se … | FOLDER
"""
import glob
import os
import shlex
import sys
from decimal import Decimal


def figures(path):
    ib, ub, res, trans = {}, {}, {}, {}
    with open(path, encoding="cp437") as f:
        for line in f:
            if not line.startswith("#"):
                continue
            words = shlex.split(line.replace("{", '"{').replace("}", '}"'))
            if words[0] in ("#IB", "#UB", "#RES") and words[1] == "0":
                {"#IB": ib, "#UB": ub, "#RES": res}[words[0]][words[2]] = Decimal(words[3])
            elif words[0] == "#TRANS":
                trans[words[1]] = trans.get(words[1], Decimal(0)) + Decimal(words[3])
    return ib, ub, res, trans


def main(args):
    paths = []
    for a in args:
        paths.extend(sorted(glob.glob(os.path.join(a, "*.se"))) if os.path.isdir(a) else [a])
    if not paths:
        print(__doc__)
        return 2
    bad = 0
    for path in paths:
        ib, ub, res, trans = figures(path)
        total = lambda m: sum(m.values(), Decimal(0))  # noqa: E731
        balance = max([abs(ib.get(a, 0) + trans.get(a, 0) - ub[a]) for a in ub] or [Decimal(0)])
        result = max([abs(trans.get(a, 0) - res[a]) for a in res] or [Decimal(0)])
        holds = total(ib) == 0 and total(ub) + total(res) == 0 and balance == 0 and result == 0
        bad += not holds
        print(f"{'OK ' if holds else 'BAD'} {os.path.basename(path):28} ΣIB={total(ib):>6} ΣUB+ΣRES={total(ub) + total(res):>6} "
              f"max|IB+ΣTRANS−UB|={balance:>5} max|ΣTRANS−RES|={result:>5} ΣRES={total(res):>12}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
