#!/usr/bin/env python3
# Fills NS:out:CHANNEL with the notifications a kept bench run delivered (field d, as workers
# write them), for `fmn send` to drain.
import json, sys, subprocess
def resp(*args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out
def main():
    src, port, key = sys.argv[1], sys.argv[2], sys.argv[3]
    cmds = []
    for line in open(src, 'rb'):
        o = json.loads(line)
        o.pop('address')
        cmds.append(resp('XADD', key, '*', 'd', json.dumps(o, separators=(',', ':')).encode()))
    subprocess.run(['redis-cli', '-p', port, '--pipe'], input=b''.join(cmds), check=True, capture_output=True)


if __name__ == '__main__':
    main()
