-- cm.yaml: decoding as Kubernetes reads manifests, errors with line and column, encoding.
local json = require "cm.json"
local t = require "t"
local yaml = require "cm.yaml"

local doc = yaml.decode([[
apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-flannel-cfg
  labels: {app: flannel, tier: node}
  annotations: {}
data:
  replicas: "3"
  enabled: yes
  count: 3
  ratio: 0.5
  none: ~
  list: []
  seq: 1764240000123456789
  net-conf.json: |
    {
      "Network": "10.244.0.0/16"
    }
]], "cm.yaml")
t.eq(doc.kind, "ConfigMap")
t.eq(doc.metadata.labels, { app = "flannel", tier = "node" })
t.eq(doc.data.replicas, "3", "a quoted number stays a string")
t.eq(doc.data.enabled, true, "yes is true, as in go-yaml v2")
t.eq(doc.data.count, 3)
t.eq(doc.data.ratio, 0.5)
t.eq(doc.data.none, json.null)
t.eq(json.is_array(doc.data.list), true)
t.eq(doc.data.seq, 1764240000123456789)
t.eq(doc.data["net-conf.json"], '{\n  "Network": "10.244.0.0/16"\n}\n')
t.eq(json.encode(doc.metadata.annotations), "{}", "an empty mapping stays an object")

-- multi-document streams; empty documents are skipped
local docs = yaml.decode_all("---\nkind: A\n---\n---\nkind: B\n")
t.eq(#docs, 2)
t.eq(docs[2].kind, "B")
t.eq(#yaml.decode_all(""), 0)
t.eq(yaml.decode(""), json.null)
local r, msg, code = yaml.decode("a: 1\n---\nb: 2\n", "two.yaml")
t.eq({ r, msg, code }, { nil, "two.yaml: expected one YAML document, found 2", "InvalidYAML" })

-- anchors, aliases and merge keys
doc = yaml.decode("base: &b {cpu: 1, mem: 2}\nsmall:\n  <<: *b\n  mem: 1\n")
t.eq(doc.small, { cpu = 1, mem = 1 })

-- errors name the line and column
r, msg, code = yaml.decode("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")
t.eq(r, nil)
t.eq(msg, "bad.yaml:3:2: did not find expected ',' or ']' while parsing a flow sequence")
t.eq(code, "InvalidYAML")
r, msg = yaml.decode("a: 1\na: 2\n")
t.eq(msg, 'yaml:2:1: mapping key "a" already defined')
r, msg = yaml.decode("a:\n\t- b\n", "tabs.yaml")
t.match(msg, "^tabs%.yaml:2:1: found character that cannot start any token")

-- encoding: strings that would read back as another type are quoted
local out = yaml.encode({ kind = "Pod", on = "true", n = 3, ok = false, empty = json.array(),
   v = "1.0", text = "two\nlines\n", seq = 1764240000123456789 })
t.eq(out, 'empty: []\nkind: Pod\n"n": 3\nok: false\n"on": "true"\nseq: 1764240000123456789\n'
   .. 'text: |\n  two\n  lines\nv: "1.0"\n')
t.eq(yaml.decode(out).on, "true")
t.eq(yaml.decode(out).n, 3, "\"n\" is quoted: go-yaml v2 would read a bare n as false")
t.eq(yaml.encode_all({ { a = 1 }, { b = 2 } }), "a: 1\n---\nb: 2\n")
t.raises("cannot encode a function value", yaml.encode, { f = print })
t.done()
