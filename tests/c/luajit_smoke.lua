-- Smoke test of the parsers binding under LuaJIT (busted runs on Lua 5.4):
-- run as `luajit tests/c/luajit_smoke.lua` with LUA_CPATH at the LuaJIT build.
local P = require("batchexport.parsers")

local function eq(a, b, what)
  if a ~= b then error(what .. ": got " .. tostring(a) .. ", want " .. tostring(b), 2) end
end

local s = P.json_splitter()
local r = s:feed('[{"a":1},')
eq(#r, 1, "records after first chunk"); eq(r[1], '{"a":1}', "first record")
r = s:feed(' "x\\"]"]')
eq(#r, 1, "records after second chunk"); eq(r[1], '"x\\"]"', "second record")
eq(s:finish(), true, "finish"); eq(s:records(), 2, "records()")
s:close()
eq(pcall(s.feed, s, "{}"), false, "closed splitter raises")

local big = P.json_splitter(7)
local ok, err = pcall(big.feed, big, '{"a":1}\n{"a":12}')
eq(ok, false, "too large raises")
eq(err, "record 2 at byte 15: record exceeds 7 bytes", "too large message")

local c = P.csv_parser(";")
local rows = c:feed('a;"b;""c"""\r\n1;')
eq(#rows, 1, "csv rows"); eq(rows[1][2], 'b;"c"', "csv quoted field")
rows = c:finish()
eq(#rows, 1, "csv last row"); eq(rows[1][1], "1", "last row f1"); eq(rows[1][2], "", "last row f2")
eq(c:rows(), 2, "rows()")
local bad = P.csv_parser()
ok, err = pcall(bad.feed, bad, '"x"y\n')
eq(ok, false, "bad quote raises")
eq(err, "row 1 at byte 3: malformed or unterminated quoted field", "quote message")
print("luajit smoke: ok")
