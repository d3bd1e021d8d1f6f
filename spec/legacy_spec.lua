-- The legacy 1.0 Export API against the mock: the eight kinds end to end
-- (create, wait, rows, download), CSV through the real path (mock -> 302 ->
-- storage -> C reader -> legacy.rows), every documented error, 409, EXPIRED,
-- expired links, and that no credential goes where it must not.
local batchexport = require("batchexport")
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local m
local seen_text = {}          -- every error line and log line, checked for secrets at the end

local function remember(s) seen_text[#seen_text + 1] = tostring(s) return s end

-- A legacy client needs no project key: none is given.
local function new_client(extra)
  return client.new(m, client.QUICK, { project_key = client.NONE, logger = function(_, line) remember(line) end }, extra)
end

local function requests(host, path_part) return m:requests(host, path_part) end
local read_file, sha256, tmpdir, collect = h.read, h.sha256, h.tmpdir, h.collect

local function legacy_date(offset)
  return os.date("!%Y-%m-%dT%H:%M:%S", os.time() + offset)
end

-- An integer: a Lua integer on 5.3+, a whole number on LuaJIT.
local function is_integer(v)
  if math.type then return math.type(v) == "integer" end
  return type(v) == "number" and v == math.floor(v)
end

local WAIT = { interval = 0.1, max_interval = 0.3, timeout = 30 }

-- A crafted CSV served by storage in place of the request's file: the mock
-- answers the first storage GET with this body (status 200).
local function serve_csv(doc)
  m:fault({ host = "storage", status = 200, body = doc, content_type = "text/csv; charset=utf-8" })
end

local function success(kind, extra)
  local t = { kind = kind, status = "SUCCESS" }
  for k, v in pairs(extra or {}) do t[k] = v end
  return m:create_legacy(t)
end

setup(function() m = mock.start({ workers = 1, created = 0.2, pending = 0.3, running = 0 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

-- The eight kinds, with what their request takes and the columns their CSV
-- has (the seeds' output examples, all three ids requested).
local IDS = { "install_id", "custom_id", "advertising_id" }
local PUSH = { "push_sent", "push_open", "push_error" }
local INAPP = { "inapp_shown", "inapp_clicked", "inapp_closed" }
local KINDS = {
  { "campaign_ids", PUSH, { "event_type" } },
  { "campaign_events", PUSH, { "event_date", "event_type" } },
  { "transactional_ids", PUSH, { "event_type" } },
  { "transactional_events", PUSH, { "event_date", "event_type", "transactional_token" } },
  { "inapp_ids", INAPP, { "event_type" } },
  { "inapp_events", INAPP, { "event_date", "event_type", "cta", "cta_position" } },
  { "reachability", nil, { "event_date", "event_type", "is_reachable", "is_optin", "has_custom_id" } },
  { "userbase", nil, { "is_optin_push", "install_date", "last_start_date", "smart_segment" } },
}
local EVENT_WRITTEN = { push_sent = "push_sent", push_open = "push_opened", push_error = "push_error",
  inapp_shown = "inapp_shown", inapp_clicked = "inapp_clicked", inapp_closed = "inapp_closed" }

local function params_for(kind, events)
  local p = { ids = IDS }
  if kind ~= "userbase" then p.from, p.to = legacy_date(-3 * 86400), "now" end
  if events then p.events, p.token = events, "tok_" .. kind end
  return p
end

describe("legacy: each of the eight kinds", function()
  for _, k in ipairs(KINDS) do
    local kind, events, extra = k[1], k[2], k[3]
    it(kind .. ": create, wait, rows with its columns, download", function()
      local c = new_client()
      m:legacy_plan({ rows = 37 })
      local id, err = c.legacy.create(kind, params_for(kind, events))
      assert.is_nil(err)
      assert.matches("^[%x%-]+$", id)
      local s = assert(c.legacy.wait_for(id, WAIT))
      assert.equal("SUCCESS", s.status)
      assert.equal(id, s.id)

      -- header = false: arrays, the header row first
      local arrays = collect(c.legacy.rows(id, { header = false }))
      local cols = { "install_id", "custom_id", "advertising_id" }
      for _, col in ipairs(extra) do cols[#cols + 1] = col end
      assert.same(cols, arrays[1])
      assert.equal(38, #arrays)

      -- header = true (default): tables keyed by the header's names
      local rows = collect(c.legacy.rows(s))
      assert.equal(37, #rows)
      for i, row in ipairs(rows) do
        for j, col in ipairs(cols) do assert.equal(arrays[i + 1][j], row[col], kind .. " row " .. i .. " " .. col) end
        assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", row.install_id)
        if events then
          local ok = false
          for _, e in ipairs(events) do ok = ok or row.event_type == EVENT_WRITTEN[e] end
          assert.is_true(ok, row.event_type)
        elseif kind == "reachability" then
          assert.equal("reachability", row.event_type)
          assert.matches("^%a+$", row.is_optin)
        end
        if row.event_date then assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", row.event_date) end
      end

      -- download: the same bytes as storage holds
      local dir = tmpdir()
      local path = assert(c.legacy.download(id, { path = dir .. "/sub/" .. kind .. ".csv" }))
      assert.equal(dir .. "/sub/" .. kind .. ".csv", path)
      local want_sha, want_size = m:file_sha256("lfile_" .. id)
      assert.equal(want_size, #read_file(path))
      assert.equal(want_sha, sha256(path))
      h.rmrf(dir)
    end)
  end

  it("uses each kind's route and body, and sends X-Authorization with Content-Type", function()
    local c = new_client()
    for _, k in ipairs(KINDS) do assert(c.legacy.create(k[1], params_for(k[1], k[2]))) end
    local paths = {}
    for _, r in ipairs(requests("api")) do
      assert.equal("POST", r.method)
      assert.is_true(r.x_authorization)
      assert.is_false(r.authorization)
      assert.equal(202, r.status)
      paths[#paths + 1] = r.path:gsub("^/1%.0/[^/]+/", "")
    end
    assert.same({ "export/campaign/tok_campaign_ids/ids", "export/campaign/tok_campaign_events/events",
      "export/transactional/tok_transactional_ids/ids", "export/transactional/tok_transactional_events/events",
      "export/in-app-campaign/tok_inapp_ids/ids", "export/in-app-campaign/tok_inapp_events/events",
      "export/reachability/events", "export/userbase" }, paths)
  end)

  it("works with method syntax too", function()
    local c = new_client()
    local id = assert(c.legacy:create("userbase", { ids = { "custom_id" } }))
    local s = assert(c.legacy:wait_for(id, WAIT))
    local n = 0
    for row in c.legacy:rows(s) do
      n = n + 1
      assert.is_string(row.custom_id)
      assert.is_nil(row.install_id)        -- only the ids asked for are columns
    end
    assert.equal(50, n)
  end)
end)

describe("legacy.create validation", function()
  it("reports every problem at once before any network call", function()
    local c = new_client()
    local id, err = c.legacy.create("campaign_events", {
      token = "bad token/..", from = "2024-13-01 00:00", to = "yesterday",
      events = { "push_sent", "inapp_shown" }, ids = { "install_id", "email" },
    })
    assert.is_nil(id)
    assert.equal("validation", err.kind)
    assert.is_true(#err.problems >= 5)
    assert.matches("token: must contain only URL%-safe", err.message)
    assert.matches("from:", err.message)
    assert.matches("to:", err.message)
    assert.matches("inapp_shown", err.message)
    assert.matches("email", err.message)
    remember(err)

    id, err = c.legacy.create("reachability", { from = legacy_date(-3600), to = legacy_date(-7200), ids = IDS })
    assert.is_nil(id)
    assert.matches("from: must not be after to", err.message)

    id, err = c.legacy.create("userbase", { ids = IDS, from = legacy_date(-60), token = "x" })
    assert.is_nil(id)
    assert.matches("from: not allowed", err.message)
    assert.matches("token: not allowed", err.message)

    id, err = c.legacy.create("inapp_events", { from = "now", to = "now", ids = IDS, events = INAPP })
    assert.is_nil(id)
    assert.matches("token: is required", err.message)

    id, err = c.legacy.create("campaigns", {})
    assert.is_nil(id)
    assert.matches('kind: "campaigns" is not one of', err.message)

    assert.equal(0, #requests("api"))
  end)

  it("accepts from = to = now, and dates in YYYY-MM-ddTHH:mm:ss", function()
    local c = new_client()
    assert(c.legacy.create("campaign_ids", { token = "a.b_c-d", from = "now", to = "now", events = { "push_open" }, ids = IDS }))
    assert(c.legacy.create("reachability", { from = legacy_date(-86400), to = legacy_date(0), ids = { "custom_id" } }))
    assert.equal(2, #requests("api", "/export/"))
  end)

  it("reports missing keys at the call, without a request", function()
    local c = assert(batchexport.new({ rest_key = m.rest_key, base_url = m.api_url }))
    local id, err = c.legacy.create("userbase", { ids = IDS })
    assert.is_nil(id)
    assert.equal("config", err.kind)
    assert.matches("api_key", err.message)
    local s
    s, err = c.legacy.status("abc")
    assert.is_nil(s)
    assert.equal("config", err.kind)
    assert.equal(0, #requests("api"))
  end)
end)

describe("legacy.status", function()
  it("returns the status table with the API key masked as ***", function()
    local c = new_client()
    local r = success("inapp_events")
    local s = assert(c.legacy.status(r.id))
    assert.equal("SUCCESS", s.status)
    assert.equal(r.id, s.id)
    assert.matches("^/1%.0/%*%*%*/export/in%-app%-campaign/", s.uri)
    assert.matches("/1%.0/%*%*%*/export/request/" .. r.id:gsub("%-", "%%-") .. "/results/", s.file_url)
    assert.is_table(s.request)
    assert.is_nil(s.error_msg)           -- JSON null
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", s.request_date)
    assert.is_nil(s.uri:find(m.api_key, 1, true))
  end)

  it("refuses a request id that is empty or not URL-safe, before any request", function()
    local c = new_client()
    for _, bad in ipairs({ "", "a/b", "..", "a b", "x\r\nX-Evil: 1", "%2e%2e", "a?b", 42, string.rep("x", 300) }) do
      local s, err = c.legacy.status(bad)
      assert.is_nil(s)
      assert.equal("validation", err.kind)
      local ok, rerr = pcall(c.legacy.rows, bad)
      assert.is_false(ok)
      assert.equal("validation", rerr.kind)
      s, err = c.legacy.download(bad, { path = "/nonexistent/x.csv" })
      assert.equal("validation", err.kind)
    end
    assert.equal(0, #requests("api"))
  end)

  it("gives ROUTE_NOT_FOUND 404/20 for an unknown id, with *** in the URL it shows", function()
    local c = new_client()
    local s, err = c.legacy.status("110e8400-e29b-11d4-b543-446655440000")
    assert.is_nil(s)
    assert.same({ "api", 404, 20, "ROUTE_NOT_FOUND", false },
      { err.kind, err.status, err.code, err.name, err.retryable })
    assert.is_true(is_integer(err.code))
    assert.matches("/1%.0/%*%*%*/export/request/110e8400", tostring(err))
    remember(err)
  end)
end)

describe("legacy errors", function()
  -- Every row of Batch's table. Where the mock reaches the error by itself
  -- (a wrong key, an unknown id) no fault is used.
  local TABLE = {
    { "AUTHENTICATION_INVALID", 401, 10 }, { "API_MISUSE", 403, 12 }, { "ROUTE_NOT_FOUND", 404, 20 },
    { "MISSING_PARAMETER", 400, 30 }, { "MALFORMED_PARAMETER", 400, 31 }, { "MALFORMED_JSON_BODY", 400, 32 },
    { "SERVER_ERROR", 500, 1 }, { "MAINTENANCE_ERROR", 503, 2 },
  }

  for _, row in ipairs(TABLE) do
    local name, status, code = row[1], row[2], row[3]
    it(name .. " gives status " .. status .. " and code " .. code .. " on create and on status", function()
      local c = new_client({ max_attempts = 1 })
      local bad = new_client({ max_attempts = 1, rest_key = "wrong_rest_key_0000" })
      local body = string.format('{"error":{"code":%d,"name":"%s","message":"as documented"}}', code, name)
      local function arm(method)
        if name == "AUTHENTICATION_INVALID" or (name == "ROUTE_NOT_FOUND" and method == "GET") then return end
        m:fault({ method = method, path = "/1.0/", status = status, body = body })
      end
      local client_for = name == "AUTHENTICATION_INVALID" and bad or c

      arm("POST")
      local id, err = client_for.legacy.create("userbase", { ids = IDS })
      assert.is_nil(id)
      assert.same({ "api", status, code, name }, { err.kind, err.status, err.code, err.name })
      assert.is_true(is_integer(err.code))
      assert.equal(1, err.attempts)
      assert.matches("^batchexport: api " .. status .. " " .. code .. ": ", tostring(err))
      remember(err)

      arm("GET")
      local s
      s, err = client_for.legacy.status(name == "ROUTE_NOT_FOUND" and "00000000-0000-0000-0000-000000000000"
        or success("userbase").id)
      assert.is_nil(s)
      assert.same({ "api", status, code, name }, { err.kind, err.status, err.code, err.name })
      assert.matches("/1%.0/%*%*%*/export/request/", tostring(err))
      remember(err)
    end)
  end

  it("uses the mock's own answers for an injected status, and reads a flat error body", function()
    local c = new_client({ max_attempts = 1 })
    for _, st in ipairs({ 400, 401, 403, 404, 500, 503 }) do
      m:fault({ path = "/1.0/", status = st })
      local s, err = c.legacy.status("abc")
      assert.is_nil(s)
      assert.equal(st, err.status)
      assert.is_number(err.code)
      remember(err)
    end
    m:fault({ path = "/1.0/", status = 400, body = '{"error_code":"30","error_message":"from is missing"}' })
    local _, err = c.legacy.status("abc")
    assert.same({ 400, 30, "MISSING_PARAMETER" }, { err.status, err.code, err.name })
    assert.matches("from is missing", err.message)
  end)

  it("retries a status GET through 503 and 500, and succeeds", function()
    local c = new_client()
    local r = success("userbase")
    m:fault({ method = "GET", path = "/1.0/", status = 503, retry_after = 0 })
    m:fault({ method = "GET", path = "/1.0/", status = 500 })
    local s = assert(c.legacy.status(r.id))
    assert.equal("SUCCESS", s.status)
    assert.equal(3, #requests("api", "/request/"))
  end)

  it("does not repeat a create that got a 500", function()
    local c = new_client()
    m:fault({ method = "POST", path = "/1.0/", status = 500, times = 3 })
    local id, err = c.legacy.create("userbase", { ids = IDS })
    assert.is_nil(id)
    assert.same({ 500, 1, 1 }, { err.status, err.code, err.attempts })
    assert.equal(1, #requests("api"))
  end)

  it("makes 409 its own clear error, not retried", function()
    local c = new_client()
    m:legacy_plan({ duration = 120 })
    local p = params_for("campaign_events", PUSH)
    local id = assert(c.legacy.create("campaign_events", p))
    local again, err = c.legacy.create("campaign_events", p)
    assert.is_nil(again)
    assert.equal("api", err.kind)
    assert.equal(409, err.status)
    assert.is_true(err.conflict)
    assert.is_false(err.retryable)
    assert.equal(1, err.attempts)
    assert.matches("409 Conflict: an identical export is already being processed", err.message)
    assert.matches(id, err.message, 1, true)      -- the server's own words are kept
    assert.equal(2, #requests("api", "/export/campaign/"))
    remember(err)
    -- another body is another export
    local other = { token = p.token, from = p.from, to = p.to, events = { "push_sent" }, ids = p.ids }
    assert(c.legacy.create("campaign_events", other))
  end)
end)

describe("legacy.wait_for", function()
  it("gives export_failed with error_msg once ERROR", function()
    local c = new_client()
    m:legacy_plan({ outcome = "ERROR", error_msg = "Campaign token not found in this app" })
    local id = assert(c.legacy.create("campaign_ids", params_for("campaign_ids", PUSH)))
    local s, err = c.legacy.wait_for(id, WAIT)
    assert.is_nil(s)
    assert.equal("export_failed", err.kind)
    assert.equal("Campaign token not found in this app", err.error_msg)
    assert.matches("Campaign token not found in this app", err.message)
    assert.equal("ERROR", err.export.status)
    assert.matches("/1%.0/%*%*%*/", err.export.uri)
    remember(err)
    -- rows and download say the same
    local ok, rerr = pcall(c.legacy.rows, id)
    assert.is_false(ok)
    assert.equal("export_failed", rerr.kind)
    assert.equal("Campaign token not found in this app", rerr.error_msg)
    local path, derr = c.legacy.download(err.export)
    assert.is_nil(path)
    assert.equal("export_failed", derr.kind)
  end)

  it("gives an expired error once EXPIRED", function()
    local c = new_client()
    m:legacy_plan({ outcome = "EXPIRED" })
    local id = assert(c.legacy.create("reachability", params_for("reachability")))
    local s, err = c.legacy.wait_for(id, WAIT)
    assert.is_nil(s)
    assert.equal("expired", err.kind)
    assert.equal("EXPIRED", err.export.status)
    assert.matches("expired", err.message)
    remember(err)
    local frozen = m:create_legacy({ kind = "userbase", status = "EXPIRED" })
    local ok, rerr = pcall(c.legacy.rows, frozen.id)
    assert.is_false(ok)
    assert.equal("expired", rerr.kind)
    local _, derr = c.legacy.download(frozen.id, { path = "never.csv" })
    assert.equal("expired", derr.kind)
    assert.is_nil(io.open("never.csv"))
  end)

  it("refuses to read a request that is not finished yet", function()
    local c = new_client()
    local r = m:create_legacy({ kind = "userbase", status = "PENDING" })
    local ok, err = pcall(c.legacy.rows, r.id)
    assert.is_false(ok)
    assert.equal("validation", err.kind)
    assert.matches("is PENDING, not SUCCESS", err.message)
    assert.equal(0, #requests("storage"))
  end)

  it("gives a timeout past opts.timeout", function()
    local c = new_client()
    m:legacy_plan({ duration = 120 })
    local id = assert(c.legacy.create("userbase", { ids = IDS }))
    local s, err = c.legacy.wait_for(id, { timeout = 0.6, interval = 0.1 })
    assert.is_nil(s)
    assert.equal("timeout", err.kind)
    assert.is_true(err.attempts >= 2)
  end)

  it("yields under the scheduler: waits run side by side with other tasks", function()
    local c = new_client()
    local ids = {}
    for i = 1, 3 do
      m:legacy_plan({ rows = 5 + i, duration = 0.5 + 0.2 * i })
      ids[i] = assert(c.legacy.create("userbase", { ids = i == 1 and IDS or { IDS[i] } }))
    end
    local ticks, results = 0, {}
    local ticker = batchexport.spawn(function()
      while #results < 3 do ticks = ticks + 1; batchexport.sleep(0.05) end
    end)
    for i, id in ipairs(ids) do
      batchexport.spawn(function()
        local s = assert(c.legacy.wait_for(id, WAIT))
        local n = 0
        for _ in c.legacy.rows(s) do n = n + 1 end
        results[#results + 1] = { i, n }
      end)
    end
    local started = require("batchexport.core").now()
    batchexport.run()
    assert.equal("done", ticker.state)
    assert.equal(3, #results)
    table.sort(results, function(a, b) return a[1] < b[1] end)
    assert.same({ { 1, 6 }, { 2, 7 }, { 3, 8 } }, results)
    assert.is_true(ticks >= 5, "the ticker ran while the waits waited")
    assert.is_true(require("batchexport.core").now() - started < 10)
  end)
end)

describe("legacy result links", function()
  it("follows the 302 without X-Authorization; storage gets no credential", function()
    local c = new_client()
    local r = success("campaign_events")
    m:clear_log()
    local n = #collect(c.legacy.rows(r.id))
    assert.equal(50, n)
    local dir = tmpdir()
    assert(c.legacy.download(r.id, { path = dir .. "/x.csv" }))
    local results = requests("api", "/results/")
    assert.equal(2, #results)
    for _, q in ipairs(results) do
      assert.is_true(q.x_authorization)
      assert.equal(302, q.status)
    end
    local storage = requests("storage")
    assert.equal(2, #storage)
    for _, q in ipairs(storage) do
      assert.is_false(q.x_authorization)
      assert.is_false(q.authorization)
      assert.is_false(q.x_batch_project)
      assert.equal(200, q.status)
    end
    h.rmrf(dir)
  end)

  it("fetches a fresh link when storage says the 20-minute one expired (rows, resuming)", function()
    local c = new_client()
    local r = success("inapp_events", { rows = 400 })
    local want = collect(c.legacy.rows(r.id, { header = false }))
    m:clear_log()
    m:fault({ host = "storage", cut_after = 3000 })
    local got, it = {}, c.legacy.rows(r.id, { header = false })
    got[1] = it()
    m:advance(1300)                       -- mock time: the link is now past its 20 minutes
    for row in it do got[#got + 1] = row end
    assert.same(want, got)
    local storage = requests("storage")
    assert.equal(3, #storage)
    assert.equal(200, storage[1].status)
    assert.equal(403, storage[2].status)  -- the old link, expired
    assert.equal(206, storage[3].status)  -- the fresh one, resumed where the cut was
    assert.equal("bytes=3000-", storage[3].range)
    assert.equal(2, #requests("api", "/results/"))
  end)

  it("fetches a fresh link when storage refuses the link (download)", function()
    local c = new_client()
    local r = success("transactional_events", { rows = 120 })
    m:fault({ host = "storage", status = 403 })
    local dir = tmpdir()
    local path = assert(c.legacy.download(r, { path = dir .. "/t.csv" }))
    assert.equal(select(1, m:file_sha256("lfile_" .. r.id)), sha256(path))
    assert.equal(2, #requests("api", "/results/"))
    h.rmrf(dir)
  end)

  it("refuses a file_url on another origin: X-Authorization goes to base_url's origin only", function()
    local c = new_client()
    local r = success("userbase")
    local port = tonumber(m.api_url:match(":(%d+)$"))
    local key_path = "/1.0/" .. m.api_key .. "/export/request/" .. r.id .. "/results/x.csv"
    for _, foreign in ipairs({
      m.storage_url .. key_path,
      "http://127.0.0.2:" .. port .. key_path,
      "https://127.0.0.1:" .. port .. key_path,
      "http://evil@127.0.0.1:" .. port .. key_path,
      "ftp://127.0.0.1:" .. port .. key_path,
      "//127.0.0.1:" .. port .. key_path,
    }) do
      local s = { id = r.id, status = "SUCCESS", file_url = foreign }
      local ok, err = pcall(c.legacy.rows, s)
      assert.is_false(ok)
      assert.equal("decode", err.kind)
      assert.matches("refusing to send X%-Authorization", err.message)
      assert.is_nil(tostring(err):find(m.api_key, 1, true))
      local path, derr = c.legacy.download(s, { path = "never.csv" })
      assert.is_nil(path)
      assert.equal("decode", derr.kind)
      remember(derr)
    end
    -- the same, from a status answer
    m:fault({ path = "/1.0/", status = 200, body = '{"id":"' .. r.id .. '","status":"SUCCESS","file_url":"'
      .. m.storage_url .. key_path .. '"}' })
    local ok, err = pcall(c.legacy.rows, r.id)
    assert.is_false(ok)
    assert.matches("another origin", err.message)
    assert.equal(0, #requests("api", "/results/"))
    assert.equal(0, #requests("storage"))
    -- a same-origin URL with a trailing dot-free default port is fine
    assert.equal(50, #collect(c.legacy.rows({ id = r.id, status = "SUCCESS", file_url = r.file_url })))
  end)

  it("gives a clear error for a result answer without Location", function()
    local c = new_client()
    local r = success("userbase")
    m:fault({ path = "/1.0/", status = 302, body = "" })
    local ok, err = pcall(collect, c.legacy.rows(r))
    assert.is_false(ok)
    assert.equal("decode", err.kind)       -- a 302 without Location
    assert.matches("Location", err.message)
  end)
end)

describe("legacy CSV through the real path", function()
  local function rows_of(doc, opts)
    local c = new_client()
    local r = success("userbase", { rows = 1 })
    serve_csv(doc)
    return collect(c.legacy.rows(r.id, opts))
  end

  it("reads the seeds' in-app example: empty fields, LF", function()
    local doc = "install_id;custom_id;advertising_id;event_date;event_type;cta;cta_position\n" ..
      "I1;C1;A1;2017-07-24T09:00:00;inapp_shown;;\n" ..
      "I2;C2;A2;2017-07-24T09:00:00;inapp_clicked;batch.CustomAction;1\n"
    local rows = rows_of(doc)
    assert.same({
      { install_id = "I1", custom_id = "C1", advertising_id = "A1", event_date = "2017-07-24T09:00:00",
        event_type = "inapp_shown", cta = "", cta_position = "" },
      { install_id = "I2", custom_id = "C2", advertising_id = "A2", event_date = "2017-07-24T09:00:00",
        event_type = "inapp_clicked", cta = "batch.CustomAction", cta_position = "1" },
    }, rows)
  end)

  it("reads quoted fields holding ;, \" and newlines, CRLF ends, no final newline, UTF-8", function()
    local doc = "install_id;custom_id;note\r\n" ..
      'i1;"acme;1";"say ""hi"""\r\n' ..
      'i2;"two\r\nlines";"lf\nonly"\r\n' ..
      ";;\r\n" ..
      "i4;\195\169lodie \240\159\152\128;\226\130\172"
    local want = {
      { install_id = "i1", custom_id = "acme;1", note = 'say "hi"' },
      { install_id = "i2", custom_id = "two\r\nlines", note = "lf\nonly" },
      { install_id = "", custom_id = "", note = "" },
      { install_id = "i4", custom_id = "\195\169lodie \240\159\152\128", note = "\226\130\172" },
    }
    assert.same(want, rows_of(doc))
    local lf = "install_id;custom_id;note\n" ..
      'i1;"acme;1";"say ""hi"""\n' ..
      'i2;"two\r\nlines";"lf\nonly"\n' ..
      ";;\n" ..
      "i4;\195\169lodie \240\159\152\128;\226\130\172\n"
    assert.same(want, rows_of(lf))
    assert.same(want, rows_of(doc .. "\r\n"))
    local arrays = rows_of(doc, { header = false })
    assert.same({ "install_id", "custom_id", "note" }, arrays[1])
    assert.same({ "i2", "two\r\nlines", "lf\nonly" }, arrays[3])
    assert.equal(5, #arrays)
  end)

  it("keeps a row's extra values by position and leaves missing columns nil", function()
    -- the seeds' userbase example: eight values under seven names
    local doc = "install_id;custom_id;advertising_id;is_optin_push;install_date;last_start_date;smart_segment\n" ..
      "I;C;A;true;2017-07-24T09:00:00;2017-07-24T10:00:00;2017-07-24T11:00:00;Engaged\n" ..
      "I2;C2\n"
    local rows = rows_of(doc)
    assert.same({ install_id = "I", custom_id = "C", advertising_id = "A", is_optin_push = "true",
      install_date = "2017-07-24T09:00:00", last_start_date = "2017-07-24T10:00:00",
      smart_segment = "2017-07-24T11:00:00", [8] = "Engaged" }, rows[1])
    assert.same({ install_id = "I2", custom_id = "C2" }, rows[2])
    local c = new_client()
    local r = success("userbase", { rows = 1 })
    serve_csv(doc)
    local ok, err = pcall(collect, c.legacy.rows(r.id, { strict = true }))
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("row 1 has 8 fields, the header names 7", err.message)
  end)

  it("drops a UTF-8 BOM from the first header name; positional for empty or repeated names", function()
    local rows = rows_of("\239\187\191a;;a;b\n1;2;3;4\n")
    assert.same({ { a = "1", [2] = "2", [3] = "3", b = "4" } }, rows)
  end)

  it("ends at once on an empty file, and on a header alone", function()
    assert.same({}, rows_of(""))
    assert.same({}, rows_of("a;b\n"))
    assert.same({ { "a", "b" } }, rows_of("a;b", { header = false }))
  end)

  it("raises a decode error on a broken quote, naming the row", function()
    local ok, err = pcall(rows_of, 'a;b\n1;"2\n')
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("row 2", err.message)
  end)

  it("rejects bad options", function()
    local c = new_client()
    local ok, err = pcall(c.legacy.rows, "abc", { headers = true })
    assert.is_false(ok)
    assert.matches('unknown option "headers"', err.message)
    ok, err = pcall(c.legacy.rows, "abc", { header = "yes" })
    assert.is_false(ok)
    assert.matches("header: expected a boolean", err.message)
    local p, derr = c.legacy.download("abc", { dir = "x" })
    assert.is_nil(p)
    assert.matches('unknown option "dir"', derr.message)
  end)

  it("parses a file cut at every byte offset (two chunks, resumed with Range) as in one piece", function()
    -- A real storage file whose rows hold quoted ;, doubled quotes, UTF-8
    -- and empty fields; each run cuts the transfer after i bytes and the
    -- reader resumes from byte i.
    local c = new_client({ backoff_base = 0, backoff_max = 0 })
    -- The mock's rows are random: take the smallest file that has a quoted
    -- separator and a doubled quote in it.
    local r, whole, size
    for rows = 10, 60, 5 do
      r = success("campaign_events", { rows = rows })
      whole = collect(c.legacy.rows(r, { header = false }))
      local text = {}
      for _, row in ipairs(whole) do text[#text + 1] = table.concat(row, "|") end
      text = table.concat(text, "\n")
      if text:find(";", 1, true) and text:find('"', 1, true) then break end
    end
    size = select(2, m:file_sha256("lfile_" .. r.id))
    local raw = read_file(m:file("lfile_" .. r.id).path)
    assert.truthy(raw:find(';"', 1, true))   -- a quoted field holding ; or "
    assert.truthy(raw:find('""', 1, true))   -- a doubled quote
    assert.truthy(raw:find(";;", 1, true))   -- an empty field
    m:clear_log()
    for i = 1, size - 1 do
      m:fault({ host = "storage", cut_after = i })
      local got = collect(c.legacy.rows(r, { header = false }))
      assert.same(whole, got, "cut at byte " .. i)
    end
    -- A cut after one byte starts again from 0: one byte cannot tell
    -- gzip from plain text, so the reader keeps it unread.
    local ranged = 0
    for _, q in ipairs(requests("storage")) do if q.status == 206 then ranged = ranged + 1 end end
    assert.equal(size - 2, ranged)
  end)

  it("stops cleanly when the loop is left early (Lua 5.4 closes the reader)", function()
    local c = new_client()
    local r = success("userbase", { rows = 2000 })
    local n = 0
    for _ in c.legacy.rows(r.id) do
      n = n + 1
      if n == 3 then break end
    end
    assert.equal(3, n)
    assert.equal(50, #collect(c.legacy.rows(success("userbase").id)))
  end)
end)

describe("legacy.download", function()
  it("writes through a temporary file and renames; default name from file_url", function()
    local c = new_client()
    local r = success("campaign_ids", { rows = 300 })
    local dir = tmpdir()
    local calls, last = 0, 0
    local path = assert(c.legacy.download(r.id, { path = dir .. "/a/b/out.csv",
      progress = function(n) calls = calls + 1; last = n end }))
    assert.equal(dir .. "/a/b/out.csv", path)
    assert.is_true(calls >= 1)
    assert.equal(#read_file(path), last)
    local p = io.popen("ls -a " .. mock.sh_quote(dir .. "/a/b"))
    local listing = p:read("a")
    p:close()
    assert.is_nil(listing:find("%.part"), listing)
    -- default name: the file's own, in the current folder
    local s = assert(c.legacy.status(r.id))
    local name = s.file_url:match("([^/]+)$")
    local default = assert(c.legacy.download(s))
    assert.equal(name, default)
    assert.equal(read_file(path), read_file(default))
    os.remove(default)
    h.rmrf(dir)
  end)

  it("leaves no file behind when the transfer fails for good", function()
    local c = new_client({ max_attempts = 2 })
    local r = success("userbase", { rows = 300 })
    m:fault({ host = "storage", status = 500, times = 5 })
    local dir = tmpdir()
    local path, err = c.legacy.download(r.id, { path = dir .. "/x.csv" })
    assert.is_nil(path)
    assert.equal(500, err.status)
    local p = io.popen("ls -A " .. mock.sh_quote(dir))
    assert.equal("", p:read("a"))
    p:close()
    remember(err)
    h.rmrf(dir)
  end)
end)

describe("legacy secrets", function()
  it("appear in no error or log line produced by these specs", function()
    assert.is_true(#seen_text > 20)
    for _, text in ipairs(seen_text) do
      assert.is_nil(text:find(m.rest_key, 1, true), text)
      assert.is_nil(text:find(m.api_key, 1, true), text)
    end
    local shown = 0
    for _, text in ipairs(seen_text) do
      if text:find("/1.0/***/", 1, true) then shown = shown + 1 end
    end
    assert.is_true(shown > 10)
  end)
end)
