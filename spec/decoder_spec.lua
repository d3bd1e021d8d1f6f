-- The one-pass record decoder (csrc/jsondecode.c, csrc/jsonvalue.c): values
-- to the contract, field projection, values without tables, strictness,
-- errors naming export, part, record and byte, and part prefetch.
local batchexport = require("batchexport")
local cjson = require("cjson")
local mock = require("spec.support.mock")
local client = require("spec.support.client")

local m

local function new_client(extra) return client.new(m, client.QUICK, extra) end

-- A one-part export whose file storage answers with `body` (`times` times
-- over, then `tail`) instead.
local function served(body, times, tail)
  local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 5000 })
  m:fault({ host = "storage", path = "/", status = 200, body = body, body_repeat = times, body_tail = tail })
  return e
end

-- The records of a file id read through reader:records(opts).
local function read_all(c, file_id, opts)
  local rd = assert(c.exports.open(file_id))
  local out = {}
  for record in rd:records(opts) do out[#out + 1] = record end
  rd:close()
  return out
end

-- Integers exist on 5.3+; on LuaJIT every number is a plain number.
local function is_integer(v)
  if math.type then return math.type(v) == "integer" end
  return type(v) == "number" and v == math.floor(v)
end
local function is_float(v)
  if math.type then return math.type(v) == "float" end
  return type(v) == "number"
end

-- cjson's view of a record, to the contract: null is nil, whole numbers
-- are integers.
local function oracle(v)
  if v == cjson.null then return nil end
  if math.tointeger and type(v) == "number" and v == math.floor(v) then
    return math.tointeger(v) or v
  end
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = oracle(x) end
  return t
end

local function pick(record, path)
  local v = record
  for key in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[key]
  end
  return v
end

setup(function() m = mock.start({ workers = 1 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

describe("records", function()
  it("equal cjson's decoding of the same lines, with integers as integers", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", scope = "PROFILE_EVENTS", parts = 1, part_size = 60000 })
    local lines = {}
    local rd = c.exports.open(e.files[1])
    for line in rd:lines() do lines[#lines + 1] = line end
    rd:close()
    local n = 0
    for record in c.exports.records(e) do
      n = n + 1
      assert.same(oracle(cjson.decode(lines[n])), record)
    end
    assert.equal(#lines, n)
  end)

  it("keep whole numbers as integers, null as absent, holes for null elements", function()
    local c = new_client()
    local e = served('{"n":42,"big":9007199254740993,"f":1.5,"e":1e2,"z":null,"a":[1,null,3],' ..
      '"s":"caf\\u00e9 \\ud83d\\ude00","t":true}\n')
    local r = read_all(c, e.files[1].id)[1]
    assert.is_true(is_integer(r.n))
    assert.equal(42, r.n)
    assert.equal(9007199254740993, r.big)     -- exact on 5.3+ (the nearest double on LuaJIT)
    assert.is_true(is_integer(r.big))
    assert.is_true(is_float(r.f))
    assert.equal(1.5, r.f)
    assert.is_true(is_integer(r.e))
    assert.is_nil(r.z)
    assert.same({ [1] = 1, [3] = 3 }, r.a)
    assert.equal("café 😀", r.s)
    assert.is_true(r.t)
  end)

  it("read a top-level array and skip null records", function()
    local c = new_client()
    local e = served('[\n{"a":1},\nnull,\n{"a":2}\n]\n')
    assert.same({ { a = 1 }, { a = 2 } }, read_all(c, e.files[1].id))
  end)

  for _, case in ipairs({
    { "a leading zero", '{"a":1}\n{"a":01}\n', 2, 15 },
    { "a raw control character", '{"a":"x\1y"}\n', 1, 8 },
    { "a bad escape", '{"a":"\\x"}\n', 1, 7 },
    { "a lone low surrogate", '{"a":"\\udc00"}\n', 1, 7 },
    { "NaN", '{"a":NaN}\n', 1, 6 },
    { "a trailing comma", '{"a":1,}\n', 1, 8 },
    { "a missing colon", '{"a" 1}\n', 1, 6 },
    { "mismatched brackets", '{"a":[1}\n', 1, 8 },
    { "garbage between records", '{"a":1}\nxyz\n', 2, 9 },
  }) do
    it("refuse " .. case[1] .. " with a decode error naming the record and the byte", function()
      local c = new_client({ max_attempts = 1 })
      local e = served(case[2])
      local ok, err = pcall(read_all, c, e.files[1].id)
      assert.is_false(ok)
      assert.equal("decode", err.kind)
      -- bytes count from 0, as offsets into the (decompressed) file
      assert.matches("record " .. case[3] .. " at byte " .. case[4] - 1 .. ":", err.message, 1, true)
    end)
  end

  -- A key equal to the one the previous record had at its place is known by a
  -- compare, not scanned: only keys read plain may be remembered so.
  it("know a key by the previous record's only when both are the same plain key", function()
    local c = new_client({ max_attempts = 1 })
    local e = served('{"a\\"b":1}\n{"a"b":1}\n')
    local ok, err = pcall(read_all, c, e.files[1].id)
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("record 2 at byte 15: unexpected byte", err.message, 1, true)
    m:clear_faults()
    e = served('{"\\u0061":1,"ab":2}\n{"a":3,"abc":4}\n{"a":5,"a":6,"b":7}\n{"ab":8}\n{"ab\\n":9}\n')
    assert.same({ { a = 1, ab = 2 }, { a = 3, abc = 4 }, { a = 6, b = 7 }, { ab = 8 }, { ["ab\n"] = 9 } },
      read_all(c, e.files[1].id))
    m:clear_faults()
    e = served('{"k":1,"x":"y"}\n{"k":2,"x":"y"}\n{"k":3,"x"  :  "y"}\n{"k":4,"x:"y"}\n')
    ok, err = pcall(read_all, c, e.files[1].id)
    assert.is_false(ok)
    assert.matches("record 4 at byte 63: unexpected byte", err.message, 1, true)
    -- the same under a projection, whose keys are remembered too
    m:clear_faults()
    e = served('{"k":1,"x":"y"}\n{"k":2,"x":"y"}\n{"k":3,"x"  :  "y"}\n{"k":4,"x:"y"}\n')
    assert.same({ { k = 1 }, { k = 2 }, { k = 3 } }, (function()
      local out, rd = {}, assert(c.exports.open(e.files[1].id))
      local got = pcall(function() for r in rd:records({ fields = { "k" } }) do out[#out + 1] = r end end)
      rd:close()
      assert.is_false(got)
      return out
    end)())
  end)

  it("refuse nesting deeper than 1000 levels, and a record over max_record, as decode errors", function()
    local c = new_client({ max_attempts = 1 })
    local e = served('{"a":1}\n{"deep":' .. string.rep("[", 1500) .. string.rep("]", 1500) .. '}\n')
    local ok, err = pcall(read_all, c, e.files[1].id)
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("record 2 at byte %d+: nesting too deep", err.message)
    m:clear_faults()
    c = new_client({ max_attempts = 1, max_record = 64 })
    e = served('{"a":1}\n{"big":"' .. string.rep("x", 200) .. '"}\n')
    ok, err = pcall(read_all, c, e.files[1].id)
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("record 2 at byte 72: record exceeds the size limit", err.message, 1, true)
  end)

  it("name the export and the part of a bad record", function()
    local c = new_client({ max_attempts = 1 })
    local e = served('{"a":1}\n{"a":tru}\n')
    local ok, err = pcall(function() for _ in c.exports.records(e) do end end)
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("export " .. e.id .. " part 1: record 2 at byte 16", err.message, 1, true)
  end)
end)

describe("fields", function()
  it("keep only the listed fields, nested ones inside their parents", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", scope = "PROFILE_ATTRIBUTES", parts = 2, part_size = 30000 })
    local full = {}
    for record in c.exports.records(e) do full[#full + 1] = record end
    local n = 0
    for record in c.exports.records(e, { fields = { "custom_id", "attributes.$email_address" } }) do
      n = n + 1
      local want = {}
      want.custom_id = full[n].custom_id
      local email = pick(full[n], "attributes.$email_address")
      if email ~= nil then want.attributes = { ["$email_address"] = email } end
      assert.same(want, record)
    end
    assert.equal(#full, n)
  end)

  it("leave absent fields nil, and reach a key holding a dot as a table path", function()
    local c = new_client()
    local e = served('{"a":{"b.c":1,"x":[1,{"y":2}]},"d":"s"}\n{"d":2,"a":"flat"}\n{"z":{}}\n')
    local out = read_all(c, e.files[1].id, { fields = { { "a", "b.c" }, "d", "q.r" } })
    assert.same({ { a = { ["b.c"] = 1 }, d = "s" }, { d = 2 }, {} }, out)
  end)

  it("still check the fields they skip", function()
    local c = new_client({ max_attempts = 1 })
    local e = served('{"keep":1,"skip":{"deep":[1,2,}}\n')
    local ok, err = pcall(read_all, c, e.files[1].id, { fields = { "keep" } })
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("record 1 at byte 30", err.message, 1, true)
  end)

  it("are checked: a bad list is a validation error", function()
    local c = new_client()
    local e = served('{"a":1}\n')
    for _, bad in ipairs({ {}, { "a", "a" }, { "a", "a.b" }, { "a..b" }, { 5 }, { {} }, "a" }) do
      local ok, err = pcall(c.exports.records, e, { fields = bad })
      assert.is_false(ok)
      assert.equal("validation", err.kind)
    end
  end)
end)

describe("values", function()
  it("give the record number and one value a field, nil where absent", function()
    local c = new_client()
    local e = served('{"id":"a","m":{"e":1}}\n{"m":{"e":null}}\n{"id":"c","m":[1]}\n')
    local rd = assert(c.exports.open(e.files[1].id))
    local got = {}
    for n, id, email in rd:values({ "id", "m.e" }) do got[#got + 1] = { n, id, email } end
    rd:close()
    assert.same({ { 1, "a", 1 }, { 2, nil, nil }, { 3, "c", nil } }, got)
  end)

  it("match the records across the parts of an export", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", scope = "PROFILE_ATTRIBUTES", parts = 2, part_size = 30000 })
    local full = {}
    for record in c.exports.records(e) do full[#full + 1] = record end
    local n = 0
    for i, id, email in c.exports.values(e, { "custom_id", "attributes.$email_address" }) do
      n = n + 1
      assert.equal(n, i)
      assert.equal(full[n].custom_id, id)
      assert.equal(pick(full[n], "attributes.$email_address"), email)
    end
    assert.equal(#full, n)
  end)
end)

describe("a part cut at every byte (two chunks, resumed with Range)", function()
  -- Keys are known by their place from one record to the next, and a record
  -- cut by a chunk boundary is decoded again once the rest arrives: a cut at
  -- any byte (inside a known key, before its quote...) reads as in one piece.
  it("gives the same records, fields and values as in one piece", function()
    local c = new_client({ backoff_base = 0, backoff_max = 0 })
    local fields = { "custom_id", "$email_address" }
    local e
    local function read(mode)
      local out = {}
      if mode == "values" then
        for n, id, email in c.exports.values(e, fields) do out[#out + 1] = { n, id, email } end
      else
        for r in c.exports.records(e, mode == "fields" and { fields = fields } or nil) do out[#out + 1] = r end
      end
      return out
    end
    -- The mock's records vary in length: the smallest part of three or more.
    local whole
    for part_size = 700, 1500, 200 do
      e = m:create_export({ status = "SUCCESS", scope = "PROFILE_ATTRIBUTES", parts = 1, part_size = part_size })
      whole = { full = read("full"), fields = read("fields"), values = read("values") }
      if #whole.full >= 3 then break end
    end
    assert.is_true(#whole.full >= 3)
    local size = e.files[1].size
    local modes = { "full", "fields", "values" }
    for i = 2, size - 1 do
      local mode = modes[i % 3 + 1]
      m:fault({ host = "storage", path = "/", cut_after = i })
      assert.same(whole[mode], read(mode), mode .. ", cut at byte " .. i)
    end
    local ranged = 0
    for _, q in ipairs(m:requests("storage")) do if q.status == 206 then ranged = ranged + 1 end end
    assert.equal(size - 2, ranged)
  end)
end)

describe("the stream's record index (the pump's thread finds the members ahead)", function()
  -- Records that the index takes and records it leaves to the decoder: an
  -- escaped key, a key looked for twice, a record over 64 KiB, one written
  -- over two lines whose second line is an object of its own, CRLF, and 21
  -- members (any number is indexed).
  local many = {}
  for i = 1, 20 do many[#many + 1] = string.format('"k%d":%d', i, i) end
  local LINES = {
    '{"id":"a","m":{"e":1},"x":[1,2,{"y":"}"}]}',
    '{"m":{"e":null},"id":"b"}',
    '{"id":"c\\"q\\u00e9","m":{"e":"x\\\\y"},"z":1.5e3}',
    '{"\\u0069d":"escaped key","m":{"e":2}}',
    '{ "id" : "spaced" , "m" : { "e" : 3 } }',
    '{"id":"dup","id":"dup2","m":{"e":4},"m":{"e":5}}',
    "{" .. table.concat(many, ",") .. ',"id":"many"}',
    "{}",
    '{"id":"multi","m":\n{"e":7}}',
    '{"id":123,"m":{"e":[1,{"f":true}]},"n":false}',
    '{"id":"crlf","m":"flat"}\r',
    '{"id":"long","pad":"' .. string.rep("p", 70000) .. '"}',
  }
  local block = table.concat(LINES, "\n") .. "\n"
  -- Bigger than the stream's ring (1 MiB): the pump is still receiving when
  -- the reader asks for the index.
  local times = math.ceil(3 * 1024 * 1024 / #block)
  local FIELDS = { "id", "m.e" }

  local function read_values(c, id, fields)
    local rd = assert(c.exports.open(id))
    local out = {}
    for n, v1, v2 in rd:values(fields or FIELDS) do out[#out + 1] = { n, v1, v2 } end
    local records, indexed = rd:count()
    rd:close()
    return out, records, indexed
  end

  local e
  before_each(function() e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 5000 }) end)

  -- The next read of the export's file gets the block, `times` times over,
  -- then `tail`.
  local function serve(tail)
    m:fault({ host = "storage", path = "/", status = 200, body = block, body_repeat = times, body_tail = tail })
    return e.files[1].id
  end

  it("gives what the decoder gives without it, and reads most records through it", function()
    local c = new_client()
    local full = read_all(c, serve())
    local values, records, indexed = read_values(c, serve())
    -- Top-level fields only: their values are taken by slot, in one pass.
    local flat, _, flat_indexed = read_values(c, serve(), { "m", "id" })
    local fields = read_all(c, serve(), { fields = FIELDS })
    assert.equal(#full, records)
    assert.equal(#full, #values)
    assert.equal(#full, #flat)
    assert.equal(#full, #fields)
    for n, record in ipairs(full) do
      local id, email = pick(record, "id"), pick(record, "m.e")
      assert.same({ n, id, email }, values[n], "record " .. n)
      assert.same({ n, record.m, id }, flat[n], "record " .. n)
      local want = { id = id }
      if email ~= nil then want.m = { e = email } end
      assert.same(want, fields[n], "record " .. n)
    end
    -- Of every 12 records, 3 are left to the decoder (the escaped key, "id"
    -- and "m" twice, the one over 64 KiB), and so are the first ones (before
    -- the reader asked) and any the decoder reaches before the pump's
    -- thread: how many depends on the two threads' speeds (about 70% here,
    -- 30% under ThreadSanitizer).
    for _, count in ipairs({ indexed, flat_indexed }) do
      assert.is_true(count > 0, count .. " of " .. records .. " records indexed")
      assert.is_true(count <= records * 9 / 12, count .. " of " .. records .. " records indexed")
    end
  end)

  it("gives top-level fields, as values and in tables, as the decoder gives them", function()
    -- Projections of top-level keys only: a record whose values are plain
    -- strings (or absent) is built from its index entry alone; one with
    -- another value (escaped, a number, an object, false) goes through the
    -- decoder with its entry.
    local c = new_client()
    local full = read_all(c, serve())
    for _, list in ipairs({ { "id" }, { "id", "z", "n" }, { "n", "m", "id" } }) do
      local values, records, indexed = read_values(c, serve(), list)
      local tables = read_all(c, serve(), { fields = list })
      assert.equal(#full, records)
      assert.equal(#full, #tables)
      assert.is_true(indexed > 0, indexed .. " of " .. records .. " records indexed")
      for n, record in ipairs(full) do
        local want, row = {}, { n }
        for i, key in ipairs(list) do
          want[key] = record[key]
          row[i + 1] = record[key]
        end
        assert.same(want, tables[n], "record " .. n .. ", fields " .. table.concat(list, ","))
        assert.same({ row[1], row[2], row[3] }, values[n], "record " .. n .. ", values " .. table.concat(list, ","))
      end
      -- Each record its own table.
      if #tables > 1 then assert.are_not.equal(tables[1], tables[2]) end
    end
  end)

  it("reads each record under the projection it is asked for, when they change", function()
    local stream = require("batchexport.stream")
    local c = new_client()
    local full = read_all(c, serve())
    -- The index is made for the first projection's keys; the others read
    -- the records themselves: "k20" is a key the index does not look for,
    -- and 9 top-level keys are more than it looks for at all.
    local nine = { "id", "m", "x", "z", "n", "pad", "k1", "k2", "k3" }
    local projections = { assert(stream.fields(FIELDS)), assert(stream.fields({ "k20", "id" })),
      assert(stream.fields(nine)) }
    local rd = assert(c.exports.open(serve()))
    for n, record in ipairs(full) do
      local which = n % 7 == 0 and 2 or n % 11 == 0 and 3 or 1
      local got = { rd:next_values(projections[which]) }
      local want = { n, pick(record, "id"), pick(record, "m.e") }
      if which == 2 then want = { n, record.k20, record.id } end
      if which == 3 then
        want = { n }
        for i, key in ipairs(nine) do want[i + 1] = record[key] end
      end
      assert.same(want, got, "record " .. n .. " under projection " .. which)
    end
    assert.is_nil(rd:next_values(projections[1]))
    local records, indexed = rd:count()
    rd:close()
    assert.equal(#full, records)
    assert.is_true(indexed > 0 and indexed <= records * 9 / 12, indexed .. " of " .. records)
    -- More top-level keys than the index looks for: no index, the same values.
    local values, _, none = read_values(c, serve(), nine)
    assert.equal(0, none)
    for n, record in ipairs(full) do assert.same({ n, record.id, record.m }, { values[n][1], values[n][2], values[n][3] }) end
  end)

  it("reports a bad member it would not read at the same record and byte as without", function()
    local c = new_client({ max_attempts = 1 })
    local bad = '{"id":"bad","x":{"y":[1,}},"m":{"e":1}}\n'
    local ok, err = pcall(read_values, c, serve(bad))
    assert.is_false(ok)
    local ok2, err2 = pcall(read_all, c, serve(bad))
    assert.is_false(ok2)
    assert.equal("decode", err.kind)
    assert.matches("record " .. (12 * times + 1) .. " at byte", err.message, 1, true)
    assert.equal(err2.message, err.message)
  end)

  it("carries on across a resumed transfer", function()
    local c = new_client({ backoff_base = 0, backoff_max = 0 })
    local export = m:create_export({ status = "SUCCESS", scope = "PROFILE_ATTRIBUTES", parts = 1, part_size = 3000000 })
    local clean = read_values(c, export.files[1].id)
    -- Cut early: nearly every record comes through the resumed transfer,
    -- whose index starts at the first line after the resume's first byte.
    m:fault({ host = "storage", path = "/", cut_after = 100007, times = 1 })
    local cut, records, indexed = read_values(c, export.files[1].id)
    assert.same(clean, cut)
    assert.equal(#clean, records)
    assert.is_true(indexed > 0, indexed .. " of " .. records .. " records indexed")
  end)
end)

describe("prefetch", function()
  it("asks for part 2 before part 1's last record is consumed", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 200000 })
    local rd = c.exports.open(e.files[1])
    local first = 0
    for _ in rd:lines() do first = first + 1 end
    rd:close()
    m:clear_log()
    local n, seen = 0, nil
    for _ in c.exports.records(e) do
      n = n + 1
      if n == first then
        seen = {}
        for _, r in ipairs(m:log().requests) do
          if r.host == "storage" then seen[#seen + 1] = r.path end
        end
      end
    end
    assert.is_true(n > first)
    -- Both parts were asked for by then. The log has each request once it
    -- ended, so the order of the two is not the order they were sent in.
    local asked = { 0, 0 }
    for _, path in ipairs(seen) do
      for i = 1, 2 do
        if path:find(e.files[i].id, 1, true) then asked[i] = asked[i] + 1 end
      end
    end
    assert.same({ 1, 1 }, asked, table.concat(seen, "\n"))
  end)
end)

describe("json.decode (API bodies)", function()
  local json = require("batchexport.json")
  it("decodes to the contract and refuses what is not JSON", function()
    assert.same({ count = 2, has_more = false }, json.decode('{"count":2,"has_more":false,"next_from":null}'))
    assert.is_true(is_integer(json.decode('{"n":7}').n))
    for _, bad in ipairs({ "", "{", "[1,]", "01", "nul", '{"a":1} x', '"\\u12"' }) do
      local v, why = json.decode(bad)
      assert.is_nil(v)
      assert.is_string(why)
    end
  end)
end)

describe("legacy.rows columns", function()
  local function legacy_client()
    return assert(batchexport.new({ rest_key = m.rest_key, api_key = m.api_key, base_url = m.api_url,
      backoff_base = 0.01, backoff_max = 0.05 }))
  end

  it("keeps only the listed columns; a column the header lacks is nil", function()
    local c = legacy_client()
    local s = m:create_legacy({ kind = "userbase", status = "SUCCESS" })
    m:fault({ host = "storage", status = 200, content_type = "text/csv; charset=utf-8",
      body = "install_id;custom_id;advertising_id\ni1;c1;a1\ni2;;a2\n" })
    local rows = {}
    for row in c.legacy.rows(s, { columns = { "custom_id", "install_id", "nope" } }) do rows[#rows + 1] = row end
    assert.same({ { install_id = "i1", custom_id = "c1" }, { install_id = "i2", custom_id = "" } }, rows)
  end)

  it("checks the list, and needs the header", function()
    local c = legacy_client()
    local s = m:create_legacy({ kind = "userbase", status = "SUCCESS" })
    for _, opts in ipairs({ { columns = {} }, { columns = { 1 } }, { columns = { "" } }, { columns = "a" },
      { columns = { "a" }, header = false } }) do
      local ok, err = pcall(c.legacy.rows, s, opts)
      assert.is_false(ok)
      assert.equal("validation", err.kind)
    end
  end)
end)

-- Records, values and a reader's records inside a task: each must wait for
-- bytes (the storage answers late), and a task waits by yielding, which a
-- C function between the for loop and the wait would forbid.
describe("iterators inside a task", function()
  local function in_task(fn)
    local task = batchexport.spawn(fn)
    batchexport.run()
    return task:result()
  end

  it("records, values and reader:records wait by yielding, and count every record", function()
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 64 * 1024 })
    local want = 0
    for _, f in ipairs(e.files) do want = want + m:file(f.id).records end
    local c = new_client()
    for _, walk in ipairs({
      function() local n = 0 for _ in c.exports.records(e) do n = n + 1 end return n end,
      function() local n = 0 for _ in c.exports.values(e, { "custom_id" }) do n = n + 1 end return n end,
      function()
        local n = 0
        for _, f in ipairs(e.files) do
          local rd = assert(c.exports.open(f))
          for _ in rd:records() do n = n + 1 end
          rd:close()
        end
        return n
      end,
    }) do
      m:fault({ host = "storage", delay = 0.2, times = 2 })
      local ok, n = in_task(walk)
      assert.is_true(ok, tostring(n))
      assert.equal(want, n)
    end
  end)
end)
