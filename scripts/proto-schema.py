#!/usr/bin/env python3
"""Writes runtime/fake/api/proto_schema.c, the table fake serve decodes protobuf request bodies with.

Usage: scripts/proto-schema.py API_DIR APIMACHINERY_DIR > runtime/fake/api/proto_schema.c

API_DIR and APIMACHINERY_DIR are checkouts of k8s.io/api and k8s.io/apimachinery. A developer
runs this when the fake should learn new kinds or fields; the build never does. It reads, for
each message reachable from the kinds in ROOTS, the field numbers and types from generated.proto
and, from the Go struct of the same name in types.go, the JSON name, whether a zero value is
kept (a pointer, or no omitempty) and whether the field is inlined in the JSON (embedded).
"""
import os
import re
import sys

PACKAGES = {
    'api': ['core/v1', 'apps/v1', 'batch/v1', 'policy/v1', 'rbac/v1', 'authorization/v1',
            'scheduling/v1', 'scheduling/v1alpha3', 'coordination/v1'],
    'apimachinery': ['pkg/apis/meta/v1', 'pkg/util/intstr', 'pkg/api/resource', 'pkg/runtime'],
}
ROOTS = ['Namespace', 'Node', 'Event', 'ConfigMap', 'Secret', 'ServiceAccount', 'Service', 'Pod', 'Deployment',
         'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job', 'PodDisruptionBudget', 'Role',
         'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'SelfSubjectAccessReview',
         'PriorityClass', 'Lease', 'DeleteOptions']
# messages whose JSON is not an object (see proto.c)
SPECIAL = {'Time': 'T', 'MicroTime': 'U', 'Quantity': 'Q', 'IntOrString': 'I', 'FieldsV1': 'F'}
SCALAR = {'string': 's', 'bytes': 'b', 'int32': 'i', 'int64': 'i', 'bool': 't'}
FIELD = re.compile(r'^  (optional|repeated) ([\w.]+) (\w+) = (\d+);')
MAP = re.compile(r'^  map<\w+, ([\w.]+)> (\w+) = (\d+);')
GOFIELD = re.compile(r'^\s+(\w+)?\s*(\S+)?\s*`(.*)`')


def read_proto(path, msgs):
    """Adds path's messages: name -> [(number, proto name, label, type)]."""
    cur = None
    for line in open(path, encoding='utf-8'):
        m = re.match(r'^message (\w+) \{', line)
        if m:
            cur = msgs.setdefault(m.group(1), [])
        elif line.startswith('}'):
            cur = None
        elif cur is not None:
            f = FIELD.match(line)
            if f:
                cur.append((int(f.group(4)), f.group(3), f.group(1), f.group(2).split('.')[-1]))
            f = MAP.match(line)
            if f:
                cur.append((int(f.group(3)), f.group(2), 'map', f.group(1).split('.')[-1]))


def read_go(path, fields):
    """Adds path's struct fields: (struct, number) -> (json name, keep zero, inline)."""
    cur = None
    for line in open(path, encoding='utf-8'):
        m = re.match(r'^type (\w+) struct \{', line)
        if m:
            cur = m.group(1)
            continue
        if line.startswith('}'):
            cur = None
        if cur is None:
            continue
        m = GOFIELD.match(line)
        pb = m and re.search(r'protobuf:"\w+,(\d+)', m.group(3))
        js = m and re.search(r'json:"([^"]*)"', m.group(3))
        if not pb or not js:
            continue
        gotype = m.group(2) or m.group(1)
        embedded = m.group(2) is None
        opts = js.group(1).split(',')
        if '[' not in gotype and gotype.lstrip('*').split('.')[-1] in ('Time', 'MicroTime'):  # never omitted
            keep = not gotype.startswith('*')
        else:
            keep = gotype.startswith('*') or 'omitempty' not in opts[1:]
        fields[(cur, int(pb.group(1)))] = (opts[0], keep, embedded or 'inline' in opts[1:])


def field_spec(msg, field, gofields):
    """One field in the table's notation (see proto.h)."""
    num, pname, label, typ = field
    code = SCALAR.get(typ) or SPECIAL.get(typ) or typ
    name, keep, inline = gofields.get((msg, num), (pname, False, False))
    flag = ''
    if label == 'repeated':
        code = '[' + code
    elif label == 'map':
        code = '{' + code
    if keep and (typ in SCALAR or typ in ('Time', 'MicroTime') or label != 'optional'):
        flag = '!'
    if inline:
        flag, name = '^', pname
    return '%s%s=%d:%s' % (flag, name, num, code)


def c_string(text, indent):
    """text as C string literals of at most ~100 columns, split between fields."""
    lines, cur = [], ''
    for tok in text.split(' '):
        if cur and len(cur) + len(tok) > 96 - indent:
            lines.append(cur)
            cur = ''
        cur += tok + ' '
    lines.append(cur.rstrip())
    return ('\n' + ' ' * indent).join('"%s"' % ln for ln in lines)


def main():
    msgs, gofields = {}, {}
    for which, pkgs in PACKAGES.items():
        root = sys.argv[1] if which == 'api' else sys.argv[2]
        for pkg in pkgs:
            read_proto(os.path.join(root, pkg, 'generated.proto'), msgs)
            go = os.path.join(root, pkg, 'types.go')
            if os.path.exists(go):  # intstr and resource have none: their types are SPECIAL
                read_go(go, gofields)
    seen = set()

    def visit(name):
        if name in seen or name in SPECIAL:
            return
        seen.add(name)
        for f in msgs[name]:
            if f[3] not in SCALAR:
                visit(f[3])
    for r in ROOTS:
        visit(r)
    print('/*\n * proto_schema.c - the protobuf messages of the built-in kinds fake serve decodes:')
    print(' * field numbers and types from k8s.io/api and k8s.io/apimachinery generated.proto,')
    print(' * JSON names and zero-value handling from their types.go. Written by')
    print(' * scripts/proto-schema.py; do not edit by hand.\n */')
    print('#include "proto.h"\n')
    print('const cm_proto_msg cm_proto_msgs[] = {')
    for name in sorted(seen):
        spec = ' '.join(field_spec(name, f, gofields) for f in msgs[name])
        print('    {"%s",\n     %s},' % (name, c_string(spec, 5)))
    print('};\n')
    print('const size_t cm_proto_nmsgs = sizeof cm_proto_msgs / sizeof cm_proto_msgs[0];')


if __name__ == '__main__':
    main()
