-- Reading and saving v2 export files against the mock: records, open,
-- download, in every layout, with faults on the storage host.
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")
local scheduler = require("batchexport.scheduler")

local m, dir

local function new_client(extra) return client.new(m, client.QUICK, extra) end

local sha256, listdir = h.sha256, h.ls
local function storage_requests() return m:requests("storage") end

-- One mock for the file; dir, where downloads go, is not there at each start.
setup(function() m, dir = mock.start({ workers = 1 }), h.tmpname() end)
teardown(function() if m then m:stop() end h.rmrf(dir) end)
before_each(function() m:reset() h.rmrf(dir) end)

describe("exports.records", function()
  for _, layout in ipairs({
    { format = "ndjson", gzip = false }, { format = "array", gzip = false },
    { format = "ndjson", gzip = true }, { format = "array", gzip = true },
  }) do
    it("reads " .. layout.format .. (layout.gzip and " gzip" or "") .. " parts, decoded, with integers", function()
      local c = new_client()
      local e = m:create_export({ status = "SUCCESS", scope = "PROFILE_ATTRIBUTES", parts = 1,
        part_size = 50000, format = layout.format, gzip = layout.gzip })
      local n = 0
      for record in c.exports.records(e.id) do
        n = n + 1
        assert.is_table(record)
        assert.truthy(record.custom_id or record.installation_ids)
      end
      assert.is_true(n > 10)
      -- the same records straight from the mock's file, decoded by cjson
      local reader = assert(c.exports.open(e.files[1]))
      local raw = {}
      for line in reader:lines() do raw[#raw + 1] = line end
      reader:close()
      assert.equal(n, #raw)
      assert.is_table(require("cjson").decode(raw[1]))
    end)
  end

  it("reads an export with no files as no records", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", empty = true })
    assert.same({}, e.files)
    local n = 0
    for _ in c.exports.records(e) do n = n + 1 end
    assert.equal(0, n)
    assert.same({}, assert(c.exports.download(e, { dir = dir })))
  end)

  it("reads a three-part export in part order, asking a fresh link per part", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", scope = "PROFILE_EVENTS", parts = 3, part_size = 20000 })
    local expected = 0
    for i = 1, 3 do
      local rd = c.exports.open(e.files[i])
      for _ in rd:lines() do expected = expected + 1 end
      rd:close()
    end
    m:clear_log()
    local n = 0
    for record in c.exports.records(e.id) do
      n = n + 1
      assert.is_string(record.event)
    end
    assert.equal(expected, n)
    local links, parts = 0, {}
    for _, r in ipairs(m:log().requests) do
      if r.path:find("/exports/download", 1, true) then
        links = links + 1
        parts[#parts + 1] = r.query:match("id=(.*)")
      end
    end
    assert.equal(3, links)
    assert.same({ e.files[1].id, e.files[2].id, e.files[3].id }, parts)
  end)

  it("refuses an export that is not finished", function()
    local c = new_client()
    local e = m:create_export({ status = "RUNNING" })
    local ok, err = pcall(c.exports.records, e.id)
    assert.is_false(ok)
    assert.equal("validation", err.kind)
    assert.matches("RUNNING", err.message)
  end)

  it("resumes a cut body with Range and reads every record once", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
    local clean = 0
    for _ in c.exports.records(e) do clean = clean + 1 end
    m:clear_log()
    m:fault({ host = "storage", path = "/", cut_after = 100000, times = 2 })
    local n = 0
    for _ in c.exports.records(e) do n = n + 1 end
    assert.equal(clean, n)
    local ranges = {}
    for _, r in ipairs(storage_requests()) do ranges[#ranges + 1] = r.range end
    assert.equal(3, #ranges)
    assert.equal("bytes=100000-", ranges[2])
    assert.equal("bytes=200000-", ranges[3])
  end)

  it("names the export, the part and the record of a corrupt record", function()
    local c = new_client({ max_attempts = 1 })
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 5000 })
    m:fault({ host = "storage", path = "/", malformed_json = true })
    local ok, err = pcall(function() for _ in c.exports.records(e) do end end)
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("export " .. e.id .. " part 1", err.message, 1, true)
    assert.matches("record 1", err.message)
  end)

  it("streams a 100 MB part end to end", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 100 * 1024 * 1024 })
    local rd = c.exports.open(e.files[1])
    local bytes, n = 0, 0
    for line in rd:lines() do
      n = n + 1
      bytes = bytes + #line
    end
    rd:close()
    assert.is_true(n > 100000)
    assert.is_true(bytes > 90 * 1024 * 1024)
  end)
end)

describe("exports.open", function()
  it("reads raw bytes with read(n), decompressed, and close() frees the transfer", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 10000, gzip = true })
    local chunks = {}
    local rd = c.exports.open(e.files[1].id)
    while true do
      local s, err = rd:read(4096)
      assert.is_nil(err)
      if not s then break end
      assert.is_true(#s <= 4096)
      chunks[#chunks + 1] = s
    end
    rd:close()
    local text = table.concat(chunks)
    assert.equal("{", text:sub(1, 1))          -- inflated, not gzip bytes
    assert.is_true(#text > 5000)
    assert.equal(0, scheduler.loop:count())
  end)

  it("close() in the middle of a file stops its transfer", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 5 * 1024 * 1024 })
    local rd = c.exports.open(e.files[1])
    assert.is_string(rd:lines()())
    assert.equal(1, scheduler.loop:count())
    rd:close()
    assert.equal(0, scheduler.loop:count())
    local _, err = rd:read(10)
    assert.equal("validation", err.kind)
  end)

  it("never sends credentials to storage", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 8000 })
    for _ in c.exports.records(e) do end
    assert(c.exports.download(e, { dir = dir }))
    local reqs = storage_requests()
    assert.is_true(#reqs >= 4)
    for _, r in ipairs(reqs) do
      assert.is_false(r.authorization)
      assert.is_false(r.x_batch_project)
      assert.is_false(r.x_authorization)
    end
  end)
end)

describe("exports.download", function()
  it("saves each part under <export id>-<part>, byte for byte, with progress", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 3, part_size = 40000, gzip = false })
    local calls, last = 0, nil
    local paths = assert(c.exports.download(e.id, { dir = dir, parallel = 3,
      progress = function(done, total, part) calls = calls + 1 last = { done, total, part } end }))
    assert.equal(3, #paths)
    for i, f in ipairs(e.files) do
      assert.equal(dir .. "/" .. e.id .. "-" .. i .. ".json", paths[i])
      local want = m:file_sha256(f.id)
      assert.equal(want, sha256(paths[i]))
    end
    assert.is_true(calls >= 3)
    assert.equal(last[2], last[1])
    assert.equal(120000, last[2])
    assert.same({ e.id .. "-1.json", e.id .. "-2.json", e.id .. "-3.json" }, listdir(dir))
  end)

  it("names gzip parts .json.gz", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 40000, gzip = true })
    local paths = assert(c.exports.download(e, { dir = dir }))
    assert.matches("%-1%.json%.gz$", paths[1])
    assert.equal(m:file_sha256(e.files[1].id), sha256(paths[1]))
  end)

  it("resumes a dropped connection and the file matches the original", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 500000 })
    m:clear_log()
    m:fault({ host = "storage", path = "/", cut_after = 150000, times = 2 })
    local paths = assert(c.exports.download(e, { dir = dir }))
    assert.equal(m:file_sha256(e.files[1].id), sha256(paths[1]))
    local reqs = storage_requests()
    assert.equal(3, #reqs)
    assert.equal("bytes=150000-", reqs[2].range)
  end)

  it("replaces an expired link and finishes", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 200000 })
    m:config({ link_ttl = 60 })
    m:fault({ host = "storage", path = "/", cut_after = 50000 })
    local advanced = false
    -- While the first transfer runs, move the mock's clock past the link's life.
    local paths = assert(c.exports.download(e, { dir = dir, progress = function()
      if not advanced then advanced = true m:advance(120) end
    end }))
    assert.is_true(advanced)
    assert.equal(m:file_sha256(e.files[1].id), sha256(paths[1]))
    local statuses, links = {}, 0
    for _, r in ipairs(m:log().requests) do
      if r.host == "storage" then statuses[#statuses + 1] = r.status end
      if r.path:find("/exports/download", 1, true) then links = links + 1 end
    end
    -- a transfer that met the expired link (403), then the rest with a
    -- fresh one: 206 when the first bytes came before the clock moved (as
    -- a task or a yielding wait sees it), 200 when none had (PUC 5.1's
    -- blocking wait reports progress before the first byte)
    local n = #statuses
    assert.equal(403, statuses[n - 1], table.concat(statuses, " "))
    assert.truthy(statuses[n] == 206 or (statuses[n] == 200 and n == 2), table.concat(statuses, " "))
    assert.equal(2, links)
  end)

  it("fails clearly, leaving no file, when storage cannot resume", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 200000 })
    m:fault({ host = "storage", path = "/", cut_after = 50000, ignore_range = true, times = 10 })
    local paths, err = c.exports.download(e, { dir = dir })
    assert.is_nil(paths)
    assert.equal("network", err.kind)
    -- each refused resume started the file again from byte 0, up to max_attempts
    assert.matches("Range", err.message)
    assert.same({}, listdir(dir))
  end)

  it("leaves no file when every attempt fails", function()
    local c = new_client({ max_attempts = 2 })
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 20000 })
    m:fault({ host = "storage", path = "/", status = 500, times = 5 })
    local paths, err = c.exports.download(e, { dir = dir })
    assert.is_nil(paths)
    assert.equal(500, err.status)
    assert.equal(2, err.attempts)
    assert.same({}, listdir(dir))
  end)

  it("checks its options", function()
    local c = new_client()
    local paths, err = c.exports.download("export_x", { dir = dir, paralel = 2 })
    assert.is_nil(paths)
    assert.equal("validation", err.kind)
    assert.matches('unknown option "paralel"', err.message)
  end)
end)
