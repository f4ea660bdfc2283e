"""fmn's extractors against the fedora-messaging schema classes themselves.

Run by scripts/differential/run inside a virtualenv holding the schema packages (the
`fedora.messages` entry points). For every registered message class it makes messages:
  - the corpus' own bodies of that class (tests/fixtures/corpus/fedora_messaging.jsonl),
  - mutations of those bodies that still validate against the class's `body_schema`,
  - valid bodies generated from the class's `body_schema` (hypothesis-jsonschema, seeded),
asks the class for its properties (usernames, packages, groups, agent_name, summary, url,
app_icon, app_name, str()), writes every message with those answers in the corpus format
that `fmn rules conformance` reads, and prints fmn's agreement per class and field.
"""

import argparse
import contextlib
import copy
import io
import json
import random
import re
import sys
import warnings
from importlib.metadata import entry_points, version

import jsonschema

from common import compare_and_report, floors, leaves, run_extractor

FIELDS = [
    # (property, field name in the corpus format)
    ("usernames", "usernames"),
    ("packages", "packages"),
    ("groups", "groups"),
    ("agent_name", "agent"),
    ("summary", "summary"),
    ("url", "url"),
    ("app_icon", "app_icon"),
    ("app_name", "app_name"),
    ("__str__", "str"),
]


def classes():
    """Every registered message class but fedora-messaging's own base class."""
    out = []
    for ep in entry_points(group="fedora.messages"):
        cls = ep.load()
        if cls.__module__.startswith("fedora_messaging."):
            continue
        dist = ep.dist.name if ep.dist else "?"
        out.append((f"{cls.__module__}.{cls.__name__}", cls, f"{dist}=={version(dist)}"))
    return sorted(out, key=lambda c: c[0])


def answers(cls, topic, body):
    """The class's own answers (a property that raises states nothing), and the message's id
    and headers, which its default long text shows."""
    try:
        msg = cls(body=body, topic=topic)
    except Exception:
        return None, None, None
    out = {}
    for prop, field in FIELDS:
        try:
            # Some classes print their complaints; they are not answers.
            with contextlib.redirect_stdout(io.StringIO()):
                v = str(msg) if prop == "__str__" else getattr(msg, prop)
        except Exception:
            continue
        if isinstance(v, (set, tuple, list)):
            v = sorted(str(x) for x in v)
        elif v is not None and not isinstance(v, str):
            continue
        if v is not None:
            out[field] = v
    return out, msg.id, json.loads(json.dumps(msg._headers))


def valid(cls, body):
    try:
        jsonschema.validate(body, cls.body_schema)
        return True
    except Exception:
        return False


def set_at(value, path, new):
    for p in path[:-1]:
        value = value[p]
    value[path[-1]] = new


def drop_at(value, path):
    for p in path[:-1]:
        value = value[p]
    if isinstance(value, dict):
        del value[path[-1]]


WORDS = ["zorro", "nethack", "python-sig", "kevin", "fedora-39", "rawhide", "x"]


def mutations(cls, body, rng, n):
    """Bodies near a real one: a string changed, a value dropped; only those still valid."""
    out = []
    strings = [(p, v) for p, v in leaves(body) if isinstance(v, str) and p]
    paths = [p for p, _ in leaves(body) if p]
    for _ in range(n * 4):
        if len(out) >= n:
            break
        b = copy.deepcopy(body)
        if strings and rng.random() < 0.7:
            path, v = rng.choice(strings)
            # Keep a string's shape (an NVR stays an NVR) while changing what it says.
            new = re.sub(r"[A-Za-z]+", lambda m: rng.choice(WORDS), v, count=1) if v else "x"
            set_at(b, path, new)
        elif paths:
            drop_at(b, rng.choice(paths))
        if b != body and valid(cls, b):
            out.append(b)
    return out


def generated(cls, n, seed):
    """Valid bodies from the class's body_schema, deterministic for a seed."""
    try:
        from hypothesis import HealthCheck, given, settings
        from hypothesis_jsonschema import from_schema
    except ImportError:
        return []
    bodies = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(from_schema(cls.body_schema))
    def collect(body):
        bodies.append(body)

    try:
        collect()
    except Exception:
        pass
    # Readable strings: the generator's are any Unicode, which says nothing more.
    bodies = [b for b in (tidy(b) for b in bodies) if valid(cls, b)]
    rng = random.Random(seed)
    rng.shuffle(bodies)
    unique = []
    for b in bodies:
        if b not in unique:
            unique.append(b)
    return unique[:n]


def tidy(value):
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tidy(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"[^A-Za-z0-9 ._/:@-]", "", value)
    return value


# Topics of classes that leave the topic to the application that publishes them (the class
# has none): what that application publishes them on, as its code says.
PUBLISHED_ON = {
    # fedora-happiness-packets' messaging publishes MessageV1 on this topic.
    "happinesspacket_schema.schema.MessageV1": ["happinesspacket.send"],
    # webhook-to-fedora-messaging's parsers (endpoints/parser/*.py): `github.{x-github-event}`,
    # `gitlab.{x-gitlab-event without " Hook", snake_case}`, `forgejo.{x-forgejo-event}`,
    # pretix's own `action` (`pretix.event.order.paid`), and
    # `discourse.{x-discourse-event-type}.{x-discourse-event}`.
    "webhook_to_fedora_messaging_messages.github.v1.GitHubMessageV1": [
        "github.push", "github.pull_request", "github.issues", "github.issue_comment",
        "github.fork", "github.create", "github.release",
    ],
    "webhook_to_fedora_messaging_messages.gitlab.v1.GitLabMessageV1": [
        "gitlab.push", "gitlab.merge_request", "gitlab.issue", "gitlab.note",
        "gitlab.tag_push",
    ],
    "webhook_to_fedora_messaging_messages.forgejo.v1.ForgejoMessageV1": [
        "forgejo.push", "forgejo.pull_request", "forgejo.issues", "forgejo.issue_comment",
        "forgejo.fork", "forgejo.action_run_success", "forgejo.action_run_failure",
    ],
    "webhook_to_fedora_messaging_messages.pretix.v1.PretixMessageV1": [
        "pretix.event.order.placed", "pretix.event.order.paid", "pretix.event.order.canceled",
        "pretix.event.checkin",
    ],
    "webhook_to_fedora_messaging_messages.discourse.v1.DiscourseMessageV1": [
        "discourse.post.post_created", "discourse.topic.topic_created",
        "discourse.like.post_liked", "discourse.solved.accepted_solution",
    ],
}


def topics_for(cls, body, rng, seen, hint):
    try:
        t = cls(body=body).topic
    except Exception:
        t = cls.topic
    t = t or hint
    if not t:
        path = f"{cls.__module__}.{cls.__name__}"
        candidates = PUBLISHED_ON.get(path) or sorted(seen.get(path, ()))
        if not candidates:
            return []
        t = rng.choice(candidates)
    out = [t]
    if not t.startswith("org.") and rng.random() < 0.5:
        out = ["org.fedoraproject.prod." + t]
    return out


def main():
    # Old classes warn that they are old; every class is a definition to check all the same.
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--extract", required=True, help="command: bus JSON lines in, answers out")
    ap.add_argument("--out", required=True, help="write the messages with answers here")
    ap.add_argument("--generated", type=int, default=12, help="bodies per class from its schema")
    ap.add_argument("--mutations", type=int, default=4, help="mutated bodies per corpus body")
    ap.add_argument("--only", help="regex on the class path")
    ap.add_argument("--misses", type=int, default=0, help="print up to N disagreements per class")
    ap.add_argument("--floor", action="append", metavar="FIELD=RATE",
                    help="fail when a field's agreement over all messages is under RATE")
    ap.add_argument("--json", action="store_true", help="print the table as JSON")
    args = ap.parse_args()

    corpus = {}
    seen_topics = {}
    with open(args.corpus) as f:
        for raw in f:
            line = json.loads(raw)
            if line.get("schema_valid") is False:
                continue
            corpus.setdefault(line.get("schema_class"), []).append((line["body"], line.get("topic")))
            if line.get("topic"):
                seen_topics.setdefault(line.get("schema_class"), set()).add(line["topic"])

    rng = random.Random(1)
    lines = []
    versions = {}
    unmeasured = []
    for path, cls, dist in classes():
        if args.only and not re.search(args.only, path):
            continue
        versions[path] = dist
        bodies = [("corpus", b, t) for b, t in corpus.get(path, [])]
        for _, b, t in list(bodies):
            bodies += [("mutation", m, t) for m in mutations(cls, b, rng, args.mutations)]
        bodies += [("generated", b, None)
                   for b in generated(cls, args.generated, seed=len(lines))]
        before = len(lines)
        for origin, body, hint in bodies:
            for topic in topics_for(cls, body, rng, seen_topics, hint):
                expected, msg_id, headers = answers(cls, topic, body)
                if expected:
                    lines.append({"source": f"differential {origin} ({dist})",
                                  "schema_class": path, "id": msg_id, "topic": topic,
                                  "headers": headers, "body": body, "expected": expected})
        if len(lines) == before:
            unmeasured.append(path)
    with open(args.out, "w") as f:
        for line in lines:
            f.write(json.dumps(line, sort_keys=True) + "\n")
    got = run_extractor(args.extract, [{"id": l["id"], "topic": l["topic"], "headers": l["headers"], "body": l["body"]}
                                       for l in lines])
    fields = [field for _, field in FIELDS]
    return compare_and_report(lines, got, fields, group=lambda l: l["schema_class"],
                              versions=versions, misses=args.misses, as_json=args.json,
                              unhandled=unmeasured,
                              floor=floors(args.floor))


if __name__ == "__main__":
    sys.exit(main())
