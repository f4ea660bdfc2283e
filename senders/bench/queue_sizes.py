#!/usr/bin/env python3
# Usage: queue_sizes.py KEPT/out/email.jsonl PORT MAX (a Redis of its own: it is flushed).
# Writes the notifications of a kept bench run to a Redis stream as the workers do (field d),
# whole and with the message replaced by its id, and prints what each costs Redis.
import json, os, sys, subprocess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fill import resp  # noqa: E402

src, port, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
whole, ref = [], []
bodies = {}
for i, line in enumerate(open(src, 'rb')):
    if i >= limit: break
    o = json.loads(line)
    o.pop('address')
    d = json.dumps(o, separators=(',', ':')).encode()
    whole.append(d)
    m = o.pop('message')
    o['message_id'] = m['id']
    bodies[m['id']] = json.dumps(m, separators=(',', ':')).encode()
    ref.append(json.dumps(o, separators=(',', ':')).encode())
cmds = [resp('DEL', 'sz:whole', 'sz:ref', 'sz:bodies')]
for d in whole: cmds.append(resp('XADD', 'sz:whole', '*', 'd', d))
for d in ref: cmds.append(resp('XADD', 'sz:ref', '*', 'd', d))
for k, b in bodies.items(): cmds.append(resp('SET', b'sz:body:' + k.encode(), b, 'PX', 3600000))
subprocess.run(['redis-cli', '-p', port, '--pipe'], input=b''.join(cmds), check=True, capture_output=True)
def usage(key):
    return int(subprocess.run(['redis-cli', '-p', port, 'MEMORY', 'USAGE', key, 'SAMPLES', '0'], capture_output=True, check=True).stdout)
n = len(whole)
uw, ur = usage('sz:whole'), usage('sz:ref')
used = int([l for l in subprocess.run(['redis-cli', '-p', port, 'INFO', 'memory'], capture_output=True).stdout.decode().splitlines() if l.startswith('used_memory:')][0].split(':')[1])
# The bodies, measured on a sample of keys.
keys = list(bodies)[:2000]
ub = sum(usage('sz:body:' + k) for k in keys) / len(keys)
print(f'notifications {n}, JSON bytes: whole {sum(map(len, whole))/n:.0f}, with a message reference {sum(map(len, ref))/n:.0f}')
print(f'Redis bytes per notification: whole {uw/n:.0f}, referencing {ur/n:.0f}; per message body stored once {ub:.0f} ({len(bodies)} messages)')
print(f'Redis total: whole {uw/1e6:.1f} MB; referencing {ur/1e6:.1f} MB + bodies {ub*len(bodies)/1e6:.1f} MB = {(ur+ub*len(bodies))/1e6:.1f} MB')
subprocess.run(['redis-cli', '-p', port, 'FLUSHALL'], capture_output=True)
