"""fmn's extractors against fedmsg.meta itself, for the fedmsg era (2012-2021).

Run by scripts/differential/run inside a virtualenv holding fedmsg and
fedmsg_meta_fedora_infrastructure. Over every fedmsg message of the project's corpus (the
bench corpus and the fedmsg.meta corpus, with the aliases its lines carry) and mutations of
them (a string changed, a value dropped), it asks fedmsg.meta for usernames, packages, agent,
subtitle, link, icon and long form, writes the messages with those answers in the corpus
format that `fmn rules conformance` reads, and prints fmn's agreement per processor and field.
"""

import argparse
import copy
import json
import logging
import random
import re
import sys
from importlib.metadata import version

from common import compare_and_report, floors, leaves, run_extractor

CONFIG = {
    "topic_prefix": "org.fedoraproject",
    "environment": "prod",
    "topic_prefix_re": r"^org\.fedoraproject\.(dev|stg|prod)",
    "sign_messages": False,
    "validate_signatures": False,
}
FIELDS = ["usernames", "packages", "agent", "subtitle", "link", "icon", "long_form"]


def setup():
    logging.disable(logging.CRITICAL)
    # fedmsg loads the processors through pkg_resources, which insists on every declared
    # requirement; fasjson-client (FAS lookups over Kerberos) is one that is not needed here.
    import pkg_resources
    pkg_resources.EntryPoint.require = lambda self, *a, **k: None
    import fedmsg.meta
    import fedmsg_meta_fedora_infrastructure.fasshim as fasshim
    # The alias cache is filled per message below; a non-empty one is never fetched.
    fasshim._fas_cache["\0"] = "\0"
    fedmsg.meta.make_processors(**CONFIG)
    return fedmsg.meta, fasshim


def answers(meta, fasshim, envelope, aliases):
    fasshim._fas_cache.clear()
    fasshim._fas_cache["\0"] = "\0"
    fasshim._fas_cache.update(aliases)
    out = {}
    for field in FIELDS:
        try:
            v = getattr(meta, "msg2" + field)(envelope, **CONFIG)
        except Exception:
            continue
        if isinstance(v, (set, list, tuple)):
            # An address no alias names is no account (fmn names people by account).
            v = sorted(u for u in v if "@" not in u or u.endswith("@fedoraproject.org"))
            v = [u.split("@")[0] for u in v]
        if isinstance(v, str) and v:
            out[field] = v
        elif isinstance(v, list):
            out[field] = v
    return out


def processor(meta, envelope):
    try:
        return meta.msg2processor(envelope, **CONFIG).__name__
    except Exception:
        return "?"


WORDS = ["zorro", "nethack", "kevin", "rawhide", "x"]


def mutations(envelope, rng, n):
    body = envelope.get("msg")
    if not isinstance(body, dict):
        return []
    strings = [(p, v) for p, v in leaves(body) if isinstance(v, str) and p]
    paths = [p for p, _ in leaves(body) if p]
    out = []
    for _ in range(n):
        b = copy.deepcopy(body)
        if strings and rng.random() < 0.7:
            path, v = rng.choice(strings)
            target = b
            for p in path[:-1]:
                target = target[p]
            target[path[-1]] = re.sub(r"[A-Za-z]+", lambda m: rng.choice(WORDS), v, count=1) or "x"
        elif paths:
            path = rng.choice(paths)
            target = b
            for p in path[:-1]:
                target = target[p]
            if isinstance(target, dict):
                del target[path[-1]]
        if b != body:
            e = dict(envelope)
            e["msg"] = b
            e["msg_id"] = f"{envelope.get('msg_id')}-m{len(out)}"
            out.append(e)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True, help="bench_messages.jsonl")
    ap.add_argument("--corpus", required=True, help="fedmsg.jsonl")
    ap.add_argument("--extract", required=True, help="command: bus JSON lines in, answers out")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mutations", type=int, default=2, help="mutated messages per message")
    ap.add_argument("--only", help="regex on the processor or topic")
    ap.add_argument("--by", choices=["processor", "topic"], default="processor")
    ap.add_argument("--misses", type=int, default=0)
    ap.add_argument("--floor", action="append", metavar="FIELD=RATE",
                    help="fail when a field's agreement over all messages is under RATE")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    meta, fasshim = setup()
    sources = []
    with open(args.bench) as f:
        sources += [("bench", json.loads(l), {}) for l in f if l.strip()]
    with open(args.corpus) as f:
        for l in f:
            line = json.loads(l)
            aliases = (line.get("context") or {}).get("fas_cache") or {}
            sources.append(("corpus", line["envelope"], aliases))
    rng = random.Random(1)
    lines = []
    unhandled = set()
    dist = f"fedmsg_meta_fedora_infrastructure=={version('fedmsg_meta_fedora_infrastructure')}"
    for origin, env, aliases in sources:
        for o, e in [(origin, env)] + [("mutation", m) for m in mutations(env, rng, args.mutations)]:
            proc = processor(meta, e)
            topic = e.get("topic", "")
            if args.only and not re.search(args.only, proc + " " + topic):
                continue
            if proc == "unhandled":
                # No processor of fedmsg.meta takes the topic as written (a test's topic
                # without its prefix, or with another one): there is no definition to hold
                # fmn to.
                unhandled.add(topic)
                continue
            expected = answers(meta, fasshim, e, aliases)
            if not expected:
                continue
            lines.append({"source": f"differential {o} ({dist})", "processor": proc,
                          "topic": topic, "envelope": e, "expected": expected,
                          "context": {"fas_cache": aliases}})
    with open(args.out, "w") as f:
        for line in lines:
            f.write(json.dumps(line, sort_keys=True) + "\n")
    got = run_extractor(args.extract, [{"bus": l["envelope"], "aliases": l["context"]["fas_cache"]}
                                       for l in lines])
    # An environment's prefix says nothing of the event: `org.fedoraproject.prod.`,
    # `io.pagure.stg.`, `org.centos.prod.`, `org.release-monitoring.prod.`.
    strip = re.compile(r"^[a-z-]+\.[a-z-]+\.(prod|stg|dev)\.")
    group = (lambda l: l["processor"]) if args.by == "processor" else \
        (lambda l: l["processor"] + " " + ".".join(strip.sub("", l["topic"]).split(".")[:3]))
    return compare_and_report(lines, got, FIELDS, group=group, versions={"fedmsg.meta": dist},
                              misses=args.misses, as_json=args.json,
                              unhandled=sorted(unhandled), floor=floors(args.floor))


if __name__ == "__main__":
    sys.exit(main())
