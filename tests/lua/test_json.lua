-- cm.json: round trips, exact integers, null and empty containers, errors.
local json = require "cm.json"
local t = require "t"

-- integers are Lua integers and exact over int64; floats stay floats
local v = json.decode('{"seq":1764240000123456789,"max":9223372036854775807,"min":-9223372036854775808,'
   .. '"small":42,"f":1.5,"one":1.0,"exp":1e3}')
t.eq(v.seq, 1764240000123456789, "sequenceNumber")
t.eq(math.type(v.seq), "integer")
t.eq(v.max, math.maxinteger)
t.eq(v.min, math.mininteger)
t.eq(v.small, 42)
t.eq(v.f, 1.5)
t.eq(v.one, 1.0, "1.0 stays a float")
t.eq(v.exp, 1000.0)
t.eq(json.encode(v), '{"exp":1000.0,"f":1.5,"max":9223372036854775807,"min":-9223372036854775808,'
   .. '"one":1.0,"seq":1764240000123456789,"small":42}', "round trip, keys sorted")
t.eq(json.encode({ n = 1764240000123456789 + 1 }), '{"n":1764240000123456790}')
t.eq(json.decode("[9223372036854775808]")[1], 9223372036854775808.0, "past int64: a float")

-- null and empty containers survive a round trip
local text = '{"a":[],"b":{},"c":null,"d":[null,1],"e":[{}]}'
t.eq(json.encode(json.decode(text)), text)
t.eq(json.decode("null"), json.null)
t.eq(tostring(json.null), "null")
t.eq(json.encode({}), "{}")
t.eq(json.encode(json.array()), "[]")
t.eq(json.encode(json.object()), "{}")
t.eq(json.is_array(json.decode("[]")), true)
t.eq(json.is_array(json.decode("{}")), false)
local arr = json.decode("[1,2]")
arr[1], arr[2] = nil, nil
t.eq(json.encode(arr), "[]", "an emptied decoded array stays an array")
t.eq(json.encode({ 1, 2, "x", true }), '[1,2,"x",true]')
t.eq(json.encode("a\"b\n\t"), [["a\"b\n\t"]], "strings are escaped")
t.raises("NUL byte", json.encode, "a\0b")
t.eq(json.encode({ s = "é ✓" }), '{"s":"é ✓"}')
t.eq(json.decode('"\\u00e9 \\u2713"'), "é ✓")

-- pretty printing
t.eq(json.encode({ a = { 1 }, b = json.object() }, { indent = true }), '{\n  "a": [\n    1\n  ],\n  "b": {}\n}')

-- errors: a failure of the input returns nil, message with byte offset, code
local r, msg, code = json.decode('{"a": [1, 2,, 3]}')
t.eq(r, nil)
t.eq(msg, "invalid JSON at byte offset 12: unexpected character")
t.eq(code, "InvalidJSON")
r, msg, code = json.decode("")
t.eq({ r, msg, code }, { nil, "invalid JSON at byte offset 0: unexpected end of input", "InvalidJSON" })
r, msg = json.decode('{"a":1}}')
t.eq(msg, "invalid JSON at byte offset 7: unexpected data after the value")

-- misuse raises
t.raises("cannot encode a function value", json.encode, { f = print })
t.raises("cannot encode inf", json.encode, math.huge)
t.raises("cannot encode a table with mixed keys", json.encode, { 1, a = 2 })
t.raises("non%-sequence keys", json.encode, { [1] = 1, [3] = 3 })
local cycle = {}
cycle.self = cycle
t.raises("nested deeper than 1000", json.encode, cycle)
t.raises("bad argument #1 to '[%w.]*decode' %(string expected, got table%)", json.decode, {})
t.done()
