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
in the folder.

Prints the verdict; exits 0 when everything holds, 1 otherwise, 2 on bad usage.
"""
import os
import hashlib
import json
import sys

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
    return problems, complete_head, unfinished, len(torn)


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
    for p in problems:
        print(f"BAD {p}")
    print(f"{'OK' if not problems else 'BAD'} files={len(listed)} manifest={manifest}")
    return 0 if not problems else 1


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
    problems, head, unfinished, torn = verify(path, digests)
    for seq, problem in problems:
        print(f"BAD line {seq}: {problem}")
    if unfinished or torn:
        print(f"note: an unfinished batch at the end ({unfinished} complete line(s), {torn} byte(s) of a partial line), never acknowledged")
    verdict = "OK" if not problems else "BAD"
    print(f"{verdict} events={head[0]} head={head[0]}:{head[1]}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
