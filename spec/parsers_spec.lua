-- The parsers' Lua binding (csrc/parsers.c): json_splitter and csv_parser.
--
-- Finds the module through BATCHEXPORT_CPATH (else build/?.so): prefers
-- batchexport.core when it carries the parsers, else the stand-alone test
-- module batchexport.parsers (make -C tests/c so).  Also runs the C test
-- programs (tests/c) so their results count here.  Runs on Lua 5.4 and
-- LuaJIT: no 5.4-only syntax in this file.

local function load_parsers()
  local cpath = os.getenv("BATCHEXPORT_CPATH") or "build/?.so"
  local fallback = rawget(_G, "jit") and "build/test-luajit/?.so" or "build/test/?.so"
  package.cpath = cpath .. ";" .. fallback .. ";" .. package.cpath
  local ok, core = pcall(require, "batchexport.core")
  if ok and type(core) == "table" and core.json_splitter and core.csv_parser then
    return core, "batchexport.core"
  end
  return require("batchexport.parsers"), "batchexport.parsers"
end

local P, module_name = load_parsers()
local has_cjson, cjson = pcall(require, "cjson")

-- Runs a shell command with the sanitizer preload (asan runs) removed;
-- returns its output and exit status, portably across Lua versions.
local function run(cmd)
  local f = assert(io.popen("env -u LD_PRELOAD sh -c '" .. cmd .. " 2>&1; echo \"exit=$?\"'"))
  local out = f:read("*a")
  f:close()
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  return out:gsub("exit=%d+%s*$", ""), status
end

local function append(into, items)
  for _, v in ipairs(items) do into[#into + 1] = v end
  return into
end

-- Feeds doc in the pieces cut at the given offsets; returns the records.
local function json_pieces(doc, cuts, max)
  local s = P.json_splitter(max)
  local out, at = {}, 0
  for _, c in ipairs(cuts) do
    append(out, s:feed(doc:sub(at + 1, c)))
    at = c
  end
  append(out, s:feed(doc:sub(at + 1)))
  assert(s:finish() == true)
  return out
end

local function csv_pieces(doc, cuts, sep, max)
  local p = P.csv_parser(sep, max)
  local out, at = {}, 0
  for _, c in ipairs(cuts) do
    append(out, p:feed(doc:sub(at + 1, c)))
    at = c
  end
  append(out, p:feed(doc:sub(at + 1)))
  return append(out, p:finish())
end

-- An NDJSON document of about n bytes whose records hold every byte that
-- could fool a splitter.
local function ndjson(n)
  local parts, i, size = {}, 0, 0
  while size < n do
    i = i + 1
    local line = string.format(
      '{"id":%d,"s":"a{b}c[d]e,\\"q\\" \\\\ \\n","u":"\195\169\230\151\165\240\159\152\128",' ..
      '"n":{"x":[1,{"y":[]},"]}"]},"e":{}}', i)
    parts[#parts + 1] = line
    size = size + #line + 1
  end
  return table.concat(parts, "\n") .. "\n", parts
end

local json_docs = {
  { name = "ndjson", doc = '{"a":1}\n{"b":"x{y}z"}\n{"c":[1,2,{"d":"]"}]}\n',
    want = { '{"a":1}', '{"b":"x{y}z"}', '{"c":[1,2,{"d":"]"}]}' } },
  { name = "array", doc = '[ {"a":1} ,\n\t{"b":[1,2]}, 3, "s,]\\"", null ]\n',
    want = { '{"a":1}', '{"b":[1,2]}', '3', '"s,]\\""', 'null' } },
  { name = "concatenated with crlf", doc = '{"a":"\\\\"}{"b":2}\r\n{}',
    want = { '{"a":"\\\\"}', '{"b":2}', '{}' } },
  { name = "bom + utf-8", doc = '\239\187\191{"\195\169":"\240\159\152\128"}\n',
    want = { '{"\195\169":"\240\159\152\128"}' } },
  { name = "empty array", doc = " [ ] ", want = {} },
  { name = "empty stream", doc = "", want = {} },
}

describe("parsers binding (" .. module_name .. ")", function()
  describe("json_splitter", function()
    for _, d in ipairs(json_docs) do
      it("splits " .. d.name .. " the same at every split offset", function()
        assert.are.same(d.want, json_pieces(d.doc, {}))
        for i = 0, #d.doc do
          assert.are.same(d.want, json_pieces(d.doc, { i }), "split at " .. i)
        end
      end)
    end

    it("splits a 3 KB NDJSON document at every offset like one-shot and like lines", function()
      local doc, lines = ndjson(3000)
      local whole = json_pieces(doc, {})
      assert.are.same(lines, whole)
      for i = 0, #doc do
        assert.are.same(whole, json_pieces(doc, { i }), "split at " .. i)
      end
      if has_cjson then
        for _, rec in ipairs(whole) do
          assert.are.equal("table", type(cjson.decode(rec)))
        end
      end
    end)

    it("streams 1 MB in 1000 uneven chunks", function()
      local doc, lines = ndjson(1000000)
      local cuts, at, step = {}, 0, 1
      while at + step < #doc do
        at = at + step
        cuts[#cuts + 1] = at
        step = step % 1999 + 7
      end
      assert.are.same(lines, json_pieces(doc, cuts))
    end)

    it("counts records", function()
      local s = P.json_splitter()
      s:feed('{"a":1}\n{"b"')
      assert.are.equal(1, s:records())
      s:feed(':2}')
      assert.are.equal(2, s:records())
      assert.is_true(s:finish())
    end)

    it("raises with the record number and byte offset", function()
      local s = P.json_splitter(7)
      assert.are.same({ '{"a":1}' }, s:feed('{"a":1}\n'))
      assert.has_error(function() s:feed('{"a":12}') end,
        "record 2 at byte 15: record exceeds 7 bytes")
      -- sticky
      assert.has_error(function() s:feed('{}') end,
        "record 2 at byte 15: record exceeds 7 bytes")
      assert.has_error(function() s:finish() end,
        "record 2 at byte 15: record exceeds 7 bytes")

      s = P.json_splitter()
      assert.has_error(function() s:feed('{"a":1}x{}') end,
        "record 2 at byte 7: unexpected byte between JSON records")

      s = P.json_splitter()
      s:feed('[{"a":1},{"b":')
      assert.has_error(function() s:finish() end,
        "record 2 at byte 14: JSON stream truncated inside a record or array")
    end)

    it("defaults the cap to 64 MiB", function()
      local s = P.json_splitter()
      local big = '{"k":"' .. string.rep("x", 64 * 1024 * 1024 - 8) .. '"}'
      assert.are.equal(64 * 1024 * 1024, #big)
      local recs = s:feed(big)
      assert.are.equal(1, #recs)
      assert.are.equal(#big, #recs[1])
      recs, big = nil, nil
      s = P.json_splitter()
      assert.has_error(function() s:feed('{"k":"' .. string.rep("x", 64 * 1024 * 1024) .. '"}') end,
        "record 1 at byte 67108864: record exceeds 67108864 bytes")
      collectgarbage()
    end)

    it("checks its arguments and refuses use after close", function()
      assert.has_error(function() P.json_splitter(-1) end)
      assert.has_error(function() P.json_splitter("x") end)
      local s = P.json_splitter()
      assert.has_error(function() s:feed({}) end)
      assert.has_error(function() s.feed(io.stdout, "{}") end)
      s:close()
      s:close()
      assert.has_error(function() s:feed("{}") end, "json_splitter is closed")
    end)
  end)

  describe("csv_parser", function()
    local legacy = "install_id;custom_id;advertising_id;event_date;event_type;cta;cta_position\r\n" ..
      "abc-1;;;2020-01-01 10:00:00;inapp_shown;;\r\n" ..
      'abc-2;"us;er";"say ""hi""";"2020-01-02";inapp_clicked;"Buy\r\nnow";1\r\n' ..
      "\r\n" ..
      "abc-3;\195\169;\240\159\152\128;x;inapp_shown;;"
    local legacy_rows = {
      { "install_id", "custom_id", "advertising_id", "event_date", "event_type", "cta", "cta_position" },
      { "abc-1", "", "", "2020-01-01 10:00:00", "inapp_shown", "", "" },
      { "abc-2", "us;er", 'say "hi"', "2020-01-02", "inapp_clicked", "Buy\r\nnow", "1" },
      { "abc-3", "\195\169", "\240\159\152\128", "x", "inapp_shown", "", "" },
    }

    it("parses the legacy export the same at every split offset", function()
      assert.are.same(legacy_rows, csv_pieces(legacy, {}))
      for i = 0, #legacy do
        assert.are.same(legacy_rows, csv_pieces(legacy, { i }), "split at " .. i)
      end
    end)

    it("handles LF files, final newline or not, and another separator", function()
      local lf = legacy:gsub("\r\n", "\n")
      local rows = csv_pieces(lf, {})
      assert.are.equal("Buy\nnow", rows[3][6])
      assert.are.same(rows, csv_pieces(lf .. "\n", {}))
      for i = 0, #lf do
        assert.are.same(rows, csv_pieces(lf, { i }), "split at " .. i)
      end
      assert.are.same({ { "a", "b;c" }, { "", "" } }, csv_pieces('a,b;c\n,\n', {}, ","))
    end)

    it("counts rows and returns the last line from finish", function()
      local p = P.csv_parser()
      assert.are.same({ { "a", "b" } }, p:feed("a;b\nc;"))
      assert.are.equal(1, p:rows())
      assert.are.same({ { "c", "" } }, p:finish())
      assert.are.equal(2, p:rows())
      assert.are.same({}, p:finish())
    end)

    it("raises with the row number", function()
      local p = P.csv_parser()
      p:feed("a;b\n")
      assert.has_error(function() p:feed('"c"d;e\n') end,
        "row 2 at byte 7: malformed or unterminated quoted field")
      assert.has_error(function() p:finish() end,
        "row 2 at byte 7: malformed or unterminated quoted field")

      p = P.csv_parser()
      p:feed('a\n"open;')
      assert.has_error(function() p:finish() end,
        "row 2 at byte 8: malformed or unterminated quoted field")

      p = P.csv_parser(";", 3)
      assert.has_error(function() p:feed("abc\nabcd\n") end,
        "row 2 at byte 7: row exceeds 3 bytes")
    end)

    it("checks its arguments and refuses use after close", function()
      assert.has_error(function() P.csv_parser(";;") end)
      assert.has_error(function() P.csv_parser('"') end)
      assert.has_error(function() P.csv_parser("\n") end)
      assert.has_error(function() P.csv_parser(";", -5) end)
      local p = P.csv_parser("\t")
      assert.are.same({ { "a", "b" } }, p:feed("a\tb\n"))
      p:close()
      assert.has_error(function() p:feed("x\n") end, "csv_parser is closed")
    end)
  end)

  it("frees parsers on __close (Lua 5.4) and on collection", function()
    if _VERSION == "Lua 5.4" then
      local chunk = assert(load([[
        local P = ...
        local s <close> = P.json_splitter()
        local p <close> = P.csv_parser()
        s:feed("{}") p:feed("a\n")
        return s, p
      ]]))
      local s, p = chunk(P)
      assert.has_error(function() s:feed("{}") end, "json_splitter is closed")
      assert.has_error(function() p:feed("a\n") end, "csv_parser is closed")
    end
    for _ = 1, 1000 do
      P.json_splitter():feed('{"a":')
      P.csv_parser():feed('"a')
    end
    collectgarbage()
    collectgarbage()
  end)

  describe("C tests", function()
    local built_out, built = run("make -s -C tests/c bins")

    -- Every C test program, plain and under ASan/UBSan.
    local names = {}
    for _, t in ipairs({ "jsonsplit", "csvparse", "jsondecode", "tape", "headers", "sha256" }) do
      names[#names + 1] = "test_" .. t
      names[#names + 1] = "test_" .. t .. "_asan"
    end
    for _, name in ipairs(names) do
      it(name .. " passes", function()
        assert.are.equal(0, built, "building the C tests failed:\n" .. built_out)
        local out, status = run("build/test/" .. name)
        local passed, failed = ("\n" .. out):match("\n(%d+) passed, (%d+) failed\n?$")
        assert.is_truthy(passed, "no summary line in:\n" .. out)
        assert.are.equal("0", failed, out)
        assert.is_true(tonumber(passed) > 0, out)
        assert.are.equal(0, status, out)
      end)
    end
  end)
end)
