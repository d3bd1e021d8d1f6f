-- The v2 Exports API of the mock, exercised with plain HTTP (luasocket, curl).
local mock = require("spec.support.mock")
local cjson = require("cjson")

local m

setup(function() m = mock.start({ workers = 2 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

local function json_of(status, _, body)
  return status, cjson.decode(body)
end

local ATTRS = { export_type = "ATTRIBUTES", attributes = { "$email_address", "$language", "firstname" },
  identifiers = { "custom_id", "installation_ids" } }

local function events_body(extra)
  local now = m:now()
  local b = { export_type = "EVENTS", from = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(now - 86400)), to = "now",
    events = { "email_open", "push_open" } }
  for k, v in pairs(extra or {}) do b[k] = v end
  return b
end

describe("v2 auth", function()
  it("answers 401 JSON for a missing, wrong or other-project key", function()
    local cases = {
      {},
      { authorization = "Bearer " .. m.rest_key },
      { ["x-batch-project"] = m.project_key },
      { authorization = "Bearer nope", ["x-batch-project"] = m.project_key },
      { authorization = m.rest_key, ["x-batch-project"] = m.project_key },
      { authorization = "Bearer " .. m.rest_key, ["x-batch-project"] = "project_other" },
    }
    for _, h in ipairs(cases) do
      local status, _, body = mock.request({ url = m.api_url .. "/2.11/exports/list", headers = h })
      assert.equal(401, status)
      local e = cjson.decode(body)
      assert.equal("AUTHENTICATION_INVALID", e.error_code)
      assert.is_string(e.error_message)
    end
  end)

  it("accepts any N.N version", function()
    for _, v in ipairs({ "2.0", "2.4", "2.11", "3.1" }) do
      local status = mock.request({ url = m.api_url .. "/" .. v .. "/exports/list?limit=1",
        headers = { authorization = "Bearer " .. m.rest_key, ["x-batch-project"] = m.project_key } })
      assert.equal(200, status)
    end
  end)

  it("answers 404 / 405 JSON for unknown routes and methods", function()
    local status, e = json_of(m:v2("GET", "/exports/nope"))
    assert.equal(404, status)
    assert.equal("ROUTE_NOT_FOUND", e.error_code)
    status, e = json_of(m:v2("GET", "/profiles/export"))
    assert.equal(405, status)
    assert.equal("METHOD_NOT_ALLOWED", e.error_code)
  end)
end)

describe("v2 create", function()
  it("accepts both request shapes with 202 and an export id", function()
    for _, body in ipairs({ ATTRS, { export_type = "ATTRIBUTES", identifiers = { "custom_id" } },
      { export_type = "ATTRIBUTES", attributes = { "$city", "x" }, filter = { segment = "SEG" } },
      events_body(), events_body({ identifiers = { "custom_id" }, orchestration_ids = { "orch_1" } }),
      events_body({ to = os.date("!%Y-%m-%dT%H:%M:%S+02:00", math.floor(m:now())) }) }) do
      local status, r = json_of(m:v2("POST", "/profiles/export", body))
      assert.equal(202, status, cjson.encode(body))
      assert.matches("^export_[0-9a-z]+$", r.id)
      local s2, e = json_of(m:v2("GET", "/exports/view?id=" .. r.id))
      assert.equal(200, s2)
      assert.equal("CREATED", e.status)
      assert.equal(body.export_type == "EVENTS" and "PROFILE_EVENTS" or "PROFILE_ATTRIBUTES", e.scope)
      assert.same(body, e.request)
    end
  end)

  local bad = {
    { {}, "export_type", "MISSING_PARAMETER" },
    { { export_type = "SEGMENTS" }, "export_type" },
    { { export_type = "ATTRIBUTES" }, "attributes", "MISSING_PARAMETER" },
    { { export_type = "ATTRIBUTES", attributes = {} }, "attributes" },
    { { export_type = "ATTRIBUTES", attributes = "firstname" }, "attributes" },
    { { export_type = "ATTRIBUTES", attributes = { 3 } }, "attributes%[0%]" },
    { { export_type = "ATTRIBUTES", attributes = { "$nope" } }, "attributes%[0%]" },
    { { export_type = "ATTRIBUTES", attributes = { "$region" }, identifiers = { "email" } }, "identifiers%[0%]" },
    { { export_type = "ATTRIBUTES", attributes = { "$region" }, filter = { "SEG" } }, "filter" },
    { { export_type = "ATTRIBUTES", attributes = { "$region" }, filter = { segment = 4 } }, "filter%.segment" },
    { { export_type = "ATTRIBUTES", attributes = { "$region" }, from = "x" }, "'from'" },
    { { export_type = "EVENTS", to = "now", events = { "email_open" } }, "from", "MISSING_PARAMETER" },
    { { export_type = "EVENTS", from = "2024-01-01", to = "now", events = { "email_open" } }, "from" },
    { { export_type = "EVENTS", from = "yesterday", to = "now", events = { "email_open" } }, "from" },
    { "EVENTS_TO_BAD", "to" },
    { "EVENTS_FROM_AFTER_TO", "from" },
    { "EVENTS_TOO_OLD", "lookback" },
    { "EVENTS_NO_EVENTS", "events" },
    { "EVENTS_BAD_EVENT", "events%[1%]" },
    { "EVENTS_BAD_ID", "identifiers%[0%]" },
    { "EVENTS_EMPTY_ORCH", "orchestration_ids" },
    { "EVENTS_EXTRA", "attributes" },
  }

  local function build(b)
    if type(b) == "table" then return b end
    local now = m:now()
    local iso = function(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end
    return ({
      EVENTS_TO_BAD = events_body({ to = "tomorrow" }),
      EVENTS_FROM_AFTER_TO = events_body({ from = iso(now - 100), to = iso(now - 200) }),
      EVENTS_TOO_OLD = events_body({ from = iso(now - 91 * 86400) }),
      EVENTS_NO_EVENTS = events_body({ events = {} }),
      EVENTS_BAD_EVENT = events_body({ events = { "email_open", "push_clicked" } }),
      EVENTS_BAD_ID = events_body({ identifiers = { "installation_ids" } }),
      EVENTS_EMPTY_ORCH = events_body({ orchestration_ids = {} }),
      EVENTS_EXTRA = events_body({ attributes = { "$region" } }),
    })[b]
  end

  it("rejects each malformed body with 400 naming the field", function()
    for _, case in ipairs(bad) do
      local body = build(case[1])
      local text = cjson.encode(body)
      -- cjson writes {} for an empty Lua table; say [] where the case means an array
      text = text:gsub('"attributes":{}', '"attributes":[]'):gsub('"events":{}', '"events":[]')
        :gsub('"orchestration_ids":{}', '"orchestration_ids":[]')
      local status, e = json_of(m:v2("POST", "/profiles/export", text))
      assert.equal(400, status, text)
      assert.equal(case[3] or "MALFORMED_PARAMETER", e.error_code, text)
      assert.matches(case[2], e.error_message, nil, text)
    end
  end)

  it("rejects an object where an array is required", function()
    local status, e = json_of(m:v2("POST", "/profiles/export", '{"export_type":"ATTRIBUTES","attributes":{}}'))
    assert.equal(400, status)
    assert.matches("attributes", e.error_message)
  end)

  it("rejects invalid JSON and a non-JSON content type", function()
    local status, e = json_of(m:v2("POST", "/profiles/export", '{"export_type":'))
    assert.equal(400, status)
    assert.equal("MALFORMED_JSON_BODY", e.error_code)
    status, e = json_of(m:v2("POST", "/profiles/export", cjson.encode(ATTRS), { ["content-type"] = "text/plain" }))
    assert.equal(400, status)
    assert.matches("Content%-Type", e.error_message)
  end)
end)

describe("v2 view", function()
  it("404s an unknown id and 400s a missing one", function()
    local status, e = json_of(m:v2("GET", "/exports/view?id=export_nope"))
    assert.equal(404, status)
    assert.equal("NOT_FOUND", e.error_code)
    status, e = json_of(m:v2("GET", "/exports/view"))
    assert.equal(400, status)
    assert.equal("MISSING_PARAMETER", e.error_code)
  end)

  it("has the documented fields, dates in RFC 3339 UTC", function()
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 5000 })
    local status, v = json_of(m:v2("GET", "/exports/view?id=" .. e.id))
    assert.equal(200, status)
    for _, k in ipairs({ "request_date", "start_date", "completion_date" }) do
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", v[k])
    end
    assert.equal(2, #v.files)
    for i, f in ipairs(v.files) do
      assert.equal(i, f.part)
      assert.equal(5000, f.size)
      assert.matches("^file_", f.id)
      assert.equal(m.api_url .. "/2.11/exports/download?id=" .. f.id, f.url)
    end
  end)
end)

describe("v2 lifecycle", function()
  it("moves CREATED -> PENDING -> RUNNING -> SUCCESS on the mock clock", function()
    m:config({ speed = 1, created = 2, pending = 3, running = 10 })
    local _, r = json_of(m:v2("POST", "/profiles/export", ATTRS))
    local function status()
      local _, v = json_of(m:v2("GET", "/exports/view?id=" .. r.id))
      return v.status, v
    end
    assert.equal("CREATED", (status()))
    m:advance(2.2)
    assert.equal("PENDING", (status()))
    m:advance(3)
    local st, v = status()
    assert.equal("RUNNING", st)
    assert.truthy(v.start_date)
    assert.is_nil(v.completion_date)
    assert.same({}, v.files)
    m:advance(10)
    local deadline = mock.gettime() + 5
    repeat st, v = status() until st == "SUCCESS" or mock.gettime() > deadline
    assert.equal("SUCCESS", st)
    assert.equal(1, #v.files)
    assert.truthy(v.completion_date)
  end)

  it("runs faster with speed and ends in ERROR when planned", function()
    m:config({ speed = 1000 })
    m:plan({ outcome = "ERROR", duration = 30 })
    local _, r = json_of(m:v2("POST", "/profiles/export", ATTRS))
    -- Real time on purpose: the subject is --speed, mock seconds per real
    -- second (0.1 s at 1000 is 100 mock s, past the 30 s the plan takes).
    mock.sleep(0.1)
    local _, v = json_of(m:v2("GET", "/exports/view?id=" .. r.id))
    assert.equal("ERROR", v.status)
    assert.same({}, v.files)
    assert.truthy(v.completion_date)
  end)

  it("plans apply FIFO to the next creates; empty SUCCESS has no files", function()
    m:plan({ empty = true })
    m:plan({ parts = 3, part_size = 1000 })
    local _, a = json_of(m:v2("POST", "/profiles/export", ATTRS))
    local _, b = json_of(m:v2("POST", "/profiles/export", ATTRS))
    local _, c = json_of(m:v2("POST", "/profiles/export", ATTRS))
    m:advance(200)                  -- past the whole lifecycle, on the mock clock
    local _, va = json_of(m:v2("GET", "/exports/view?id=" .. a.id))
    local _, vb = json_of(m:v2("GET", "/exports/view?id=" .. b.id))
    local _, vc = json_of(m:v2("GET", "/exports/view?id=" .. c.id))
    assert.equal("SUCCESS", va.status)
    assert.same({}, va.files)
    assert.equal(3, #vb.files)
    assert.equal(1000, vb.files[3].size)
    assert.equal(1, #vc.files)
  end)

  it("control API can create an export frozen in any status", function()
    for _, st in ipairs({ "CREATED", "PENDING", "RUNNING", "SUCCESS", "ERROR" }) do
      local e = m:create_export({ status = st, scope = "PROFILE_EVENTS" })
      assert.equal(st, e.status)
      assert.equal("PROFILE_EVENTS", e.scope)
      m:advance(3600)
      local _, v = json_of(m:v2("GET", "/exports/view?id=" .. e.id))
      assert.equal(st, v.status)
    end
  end)
end)

describe("v2 list", function()
  it("pages through the whole seeded history with opaque cursors, newest first", function()
    local seen, ids, pages = {}, {}, 0
    local statuses, scopes = {}, {}
    local from, last_date
    repeat
      local q = "/exports/list?limit=100" .. (from and ("&from=" .. mock.urlencode(from)) or "")
      local status, page = json_of(m:v2("GET", q))
      assert.equal(200, status)
      pages = pages + 1
      assert.equal(#page.exports, page.count)
      for _, e in ipairs(page.exports) do
        assert.is_nil(seen[e.id], "duplicate " .. e.id)
        seen[e.id] = true
        ids[#ids + 1] = e.id
        statuses[e.status] = true
        scopes[e.scope] = true
        if last_date then assert.truthy(e.request_date <= last_date, "not newest first") end
        last_date = e.request_date
      end
      if page.has_more then
        assert.matches("[+]", page.next_from)
        assert.matches("/", page.next_from)
        assert.matches("=", page.next_from)
      end
      from = page.next_from
    until not page.has_more
    assert.equal(260, #ids)
    assert.equal(3, pages)
    for _, st in ipairs({ "CREATED", "PENDING", "RUNNING", "SUCCESS", "ERROR" }) do assert.truthy(statuses[st], st) end
    assert.truthy(scopes.PROFILE_ATTRIBUTES and scopes.PROFILE_EVENTS)
  end)

  it("defaults to 10, keeps limit within 1..100, and shows new exports first", function()
    local status, page = json_of(m:v2("GET", "/exports/list"))
    assert.equal(200, status)
    assert.equal(10, page.count)
    assert.is_true(page.has_more)
    for _, l in ipairs({ "0", "101", "-1", "abc", "1.5" }) do
      local s, e = json_of(m:v2("GET", "/exports/list?limit=" .. l))
      assert.equal(400, s)
      assert.equal("MALFORMED_PARAMETER", e.error_code)
      assert.matches("limit", e.error_message)
    end
    local _, r = json_of(m:v2("POST", "/profiles/export", ATTRS))
    local _, first = json_of(m:v2("GET", "/exports/list?limit=1"))
    assert.equal(r.id, first.exports[1].id)
  end)

  it("rejects a cursor sent without percent-encoding, and a forged one", function()
    local _, page = json_of(m:v2("GET", "/exports/list?limit=5"))
    local raw = page.next_from
    local status, e = json_of(m:v2("GET", "/exports/list?limit=5&from=" .. raw))
    assert.equal(400, status)
    assert.equal("MALFORMED_PARAMETER", e.error_code)
    assert.matches("from", e.error_message)
    status = m:v2("GET", "/exports/list?from=" .. mock.urlencode("MjAyNC0wMS0wMVQwMDowMDowMFo="))
    assert.equal(400, status)
    local ok_status, next_page = json_of(m:v2("GET", "/exports/list?limit=5&from=" .. mock.urlencode(raw)))
    assert.equal(200, ok_status)
    assert.not_equal(page.exports[1].id, next_page.exports[1].id)
  end)

  it("is deterministic for a seed (dates hang off the reset time)", function()
    local function shape(page)
      local out = {}
      for i, e in ipairs(page.exports) do
        local req = {}
        for k, v in pairs(e.request) do if k ~= "from" and k ~= "to" then req[k] = v end end
        out[i] = { e.id, e.scope, e.status, #e.files, req }
      end
      return out
    end
    local _, a = json_of(m:v2("GET", "/exports/list?limit=20"))
    m:reset()
    local _, b = json_of(m:v2("GET", "/exports/list?limit=20"))
    assert.same(shape(a), shape(b))
  end)
end)

describe("v2 download", function()
  it("answers 307 to a signed storage URL on the other origin", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 4096 })
    local status, headers = m:v2("GET", "/exports/download?id=" .. e.files[1].id)
    assert.equal(307, status)
    local loc = headers.location
    assert.equal(m.storage_url, loc:sub(1, #m.storage_url))
    assert.matches("Expires=%d+", loc)
    assert.matches("Signature=", loc)
    local s2, h2, body = mock.request({ url = loc })
    assert.equal(200, s2)
    assert.equal(4096, #body)
    assert.equal("4096", h2["content-length"])
  end)

  it("404s an unknown file and refuses a file of an export that is not SUCCESS", function()
    local status, e = json_of(m:v2("GET", "/exports/download?id=file_nope"))
    assert.equal(404, status)
    assert.equal("NOT_FOUND", e.error_code)
    m:plan({ duration = 1000 })
    local _, r = json_of(m:v2("POST", "/profiles/export", ATTRS))
    -- the file ids are not shown before SUCCESS; the control API knows them
    local fid
    for _, id in ipairs(m:control("GET", "/_mock/exports").ids) do if id == r.id then fid = true end end
    assert.truthy(fid)
  end)
end)

describe("v2 files", function()
  local function fetch(file)
    local _, headers = m:v2("GET", "/exports/download?id=" .. file.id)
    local _, h, body = mock.request({ url = headers.location })
    return body, h
  end

  local function gunzip(data)
    local tmp = os.tmpname()
    local fh = io.open(tmp, "wb") fh:write(data) fh:close()
    local p = io.popen("gzip -dc < " .. tmp)
    local out = p:read("a")
    p:close()
    os.remove(tmp)
    return out
  end

  it("serves NDJSON parts of the exact planned size with realistic attribute records", function()
    local req = { export_type = "ATTRIBUTES", attributes = { "$email_address", "$language", "$region", "firstname", "is_premium" },
      identifiers = { "custom_id", "installation_ids" } }
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 200000, request = req })
    local all = {}
    for _, f in ipairs(e.files) do
      local body = fetch(f)
      assert.equal(200000, #body)
      assert.equal(f.size, #body)
      all[#all + 1] = body
    end
    local text = table.concat(all)
    local n = 0
    for line in text:gmatch("[^\n]+") do
      local rec = cjson.decode(line)
      assert.truthy(rec.custom_id ~= nil and rec.installation_ids ~= nil)
      assert.truthy(rec["$language"] ~= nil or rec._pad)
      n = n + 1
    end
    assert.truthy(n > 500)
    -- the data exercises parsers: unicode, escaped quotes, newlines as \n, braces
    assert.truthy(text:find('\\"', 1, true))
    assert.truthy(text:find("\\n", 1, true))
    assert.truthy(text:find("{", 2, true))
    assert.truthy(text:find("[\xC3-\xF4]"))
    -- files are deterministic: the sha256 the control API gives is what storage serves
    local sha = m:file_sha256(e.files[1].id)
    assert.matches("^%x+$", sha)
    assert.equal(64, #sha)
  end)

  it("serves a top-level JSON array, gzip-compressed, whose size is the compressed size", function()
    local e = m:create_export({ status = "SUCCESS", format = "array", gzip = true, part_size = 100000,
      scope = "PROFILE_EVENTS" })
    local body, h = fetch(e.files[1])
    assert.equal(e.files[1].size, #body)
    assert.equal("\31\139", body:sub(1, 2))
    assert.equal("application/gzip", h["content-type"])
    local text = gunzip(body)
    assert.equal(100000, #text)
    local arr = cjson.decode(text)
    assert.truthy(#arr > 50)
    local ev = arr[1]
    assert.is_string(ev.custom_id)
    assert.is_string(ev.event)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", ev.timestamp)
    assert.is_string(ev.orchestration_id)
  end)

  it("files of history exports are served too, their size exact", function()
    local _, page = json_of(m:v2("GET", "/exports/list?limit=100"))
    local checked = 0
    for _, e in ipairs(page.exports) do
      if e.status == "SUCCESS" and #e.files > 0 and checked < 6 then
        local body = fetch(e.files[1])
        assert.equal(e.files[1].size, #body)
        checked = checked + 1
      end
    end
    assert.equal(6, checked)
  end)
end)
