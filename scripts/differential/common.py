"""What both differential checks share: running fmn's extractors and scoring them."""

import json
import shlex
import subprocess
import sys
from collections import defaultdict

# Field names of both corpus formats -> the extractor that answers them.
EXTRACTOR = {
    "usernames": "usernames", "packages": "packages", "groups": "groups", "agent": "agent",
    "summary": "summary", "subtitle": "summary", "url": "link", "link": "link",
    "app_icon": "icon", "icon": "icon", "app_name": "app_name", "str": "long_text",
    "long_form": "long_text",
}
KEY_FIELDS = {"usernames", "packages", "groups"}


def run_extractor(command, messages):
    """fmn's answers, one per message, from `command` (bus JSON lines in, answers out)."""
    text = "".join(json.dumps(m) + "\n" for m in messages)
    out = subprocess.run(shlex.split(command), input=text, capture_output=True, text=True,
                         check=True)
    answers = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    if len(answers) != len(messages):
        raise SystemExit(f"{command}: {len(answers)} answers for {len(messages)} messages")
    return answers


def stated(field, want):
    """What of a Python answer fmn is held to. A blank name (`""`, what bodies generated from
    a schema are full of) names nobody: fmn's key sets and texts leave blanks out on purpose,
    so a blank member of a set is not asked for, and a blank text is not stated at all."""
    if field in KEY_FIELDS:
        return sorted(set(w for w in want if w.strip()))
    return want if isinstance(want, str) and want.strip() else None


def leaves(value, path=()):
    """Every scalar of a JSON value, with the path to it."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, path + (i,))
    else:
        yield path, value


def agrees(field, want, have):
    """As `fmn rules conformance` scores: sets for keys (an empty set stated is met by no
    answer), texts exactly."""
    if field in KEY_FIELDS:
        return sorted(set(have or [])) == want
    return have == want


def floors(specs):
    """`--floor FIELD=RATE` arguments as a dict."""
    out = {}
    for spec in specs or []:
        field, _, rate = spec.partition("=")
        out[field] = float(rate)
    return out


def below_floors(totals, floor):
    """The fields whose agreement fell under their floor, as messages."""
    out = []
    for field, rate in floor.items():
        ok, n = totals.get(field, (0, 0))
        if n and ok / n < rate:
            out.append(f"{field}: {ok}/{n} = {ok / n:.3f} < {rate}")
    return out


def compare_and_report(lines, got, fields, group, versions, misses, as_json, unhandled=(),
                       floor=None):
    table = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    totals = defaultdict(lambda: [0, 0])
    topics = defaultdict(set)
    shown = defaultdict(int)
    for line, answer in zip(lines, got):
        g = group(line)
        topics[g].add(line["topic"])
        for field in fields:
            if field not in line["expected"]:
                continue
            want = stated(field, line["expected"][field])
            if want is None:
                continue
            have = answer.get(EXTRACTOR[field])
            ok = agrees(field, want, have)
            for cell in (table[g][field], totals[field]):
                cell[0] += ok
                cell[1] += 1
            if not ok and shown[g] < misses:
                shown[g] += 1
                print(f"MISS {g} {field} [{line['source']}] topic={line['topic']}\n"
                      f"  want {json.dumps(want)}\n  have {json.dumps(have)}")
    failed = below_floors(totals, floor or {})
    for f in failed:
        print(f"BELOW THE FLOOR {f}", file=sys.stderr)
    if as_json:
        print(json.dumps({"fields": totals, "groups": table, "versions": versions,
                          "topics": {g: sorted(t) for g, t in topics.items()},
                          "unhandled": list(unhandled)},
                         sort_keys=True))
        return 1 if failed else 0
    width = max([len(g) for g in table] + [10])
    print(f"{'class / topic':<{width}}  " + " ".join(f"{f[:9]:>9}" for f in fields))
    for g in sorted(table):
        cells = []
        for f in fields:
            ok, n = table[g][f]
            cells.append(f"{ok:>4}/{n:<4}" if n else f"{'-':>9}")
        print(f"{g:<{width}}  " + " ".join(cells))
    print(f"{'all':<{width}}  " + " ".join(
        f"{100 * totals[f][0] / totals[f][1]:>8.1f}%" if totals[f][1] else f"{'-':>9}"
        for f in fields))
    if unhandled:
        print(f"not compared (no definition takes them, or no message of theirs): {', '.join(unhandled)}")
    return 1 if failed else 0
