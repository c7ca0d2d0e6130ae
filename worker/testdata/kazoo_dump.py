"""Dumps a ZooKeeper subtree with kazoo, a client Arkive did not write, as JSON lines sorted by
path: path (relative to the root), data (base64, or null for null data), ACL, whether the node
is ephemeral, and its number of children. The tests compare the dumps of a source and a
restored tree with it.

Usage: kazoo_dump.py HOST:PORT ROOT [digest-user:password]
"""
import base64
import json
import sys

from kazoo.client import KazooClient


def main():
    hosts, root = sys.argv[1], sys.argv[2]
    auth = [("digest", sys.argv[3])] if len(sys.argv) > 3 else None
    zk = KazooClient(hosts=hosts, auth_data=auth, timeout=30)
    zk.start(timeout=30)
    out = []
    level = [root]
    while level:
        # One level at a time, every request of the level in flight together.
        gets = [(p, zk.get_async(p), zk.get_acls_async(p), zk.get_children_async(p)) for p in level]
        level = []
        for p, g, a, c in gets:
            data, stat = g.get()
            acls, _ = a.get()
            children = c.get()
            rel = p[len(root):] or "/"
            out.append({
                "path": rel,
                "data": None if data is None else base64.b64encode(data).decode(),
                "acl": sorted([acl.perms, acl.id.scheme, acl.id.id] for acl in acls),
                "ephemeral": stat.ephemeralOwner != 0,
                "children": stat.numChildren,
                "version": stat.version,
            })
            level.extend((p.rstrip("/") + "/" + ch) for ch in children)
    zk.stop()
    for n in sorted(out, key=lambda n: n["path"]):
        print(json.dumps(n, sort_keys=True))


if __name__ == "__main__":
    main()
