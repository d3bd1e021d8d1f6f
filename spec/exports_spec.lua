-- The v2 Exports API against the mock: create, view, list, pages, errors,
-- retries, TLS, and that no secret ever shows.
local batchexport = require("batchexport")
local mock = require("spec.support.mock")
local client = require("spec.support.client")

local m
local seen_text = {}          -- every error line and log line, checked for secrets at the end

local function remember(s) seen_text[#seen_text + 1] = tostring(s) return s end

local function new_client(extra)
  return client.new(m, client.QUICK, { logger = function(_, line) remember(line) end }, extra)
end

local function api_requests(path_part) return m:requests("api", path_part) end

-- Lua 5.3+ must see true integers; LuaJIT has only one number type.
local function assert_integer(v)
  if math.type then assert.equal("integer", math.type(v)) else assert.equal(math.floor(v), v) end
end

local ATTRS = { export_type = "ATTRIBUTES", attributes = { "$email_address", "plan" }, identifiers = { "custom_id" } }

setup(function() m = mock.start({ workers = 1 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

describe("batchexport.new", function()
  it("names an unknown or mistyped option, without echoing its value", function()
    local c, err = batchexport.new({ rest_kye = "s3cr3t-value", timeout = "10" })
    assert.is_nil(c)
    assert.equal("config", err.kind)
    assert.matches('unknown option "rest_kye" %(did you mean "rest_key"%?%)', err.message)
    assert.matches("timeout: expected a number, got string", err.message)
    assert.not_matches("s3cr3t", tostring(err))
  end)

  it("refuses plain http to a host that is not loopback unless allowed", function()
    local c, err = batchexport.new({ base_url = "http://api.example.com" })
    assert.is_nil(c)
    assert.matches("allow_http", err.message)
    assert.truthy(batchexport.new({ base_url = "http://api.example.com", allow_http = true }))
    assert.truthy(batchexport.new({ base_url = "http://127.0.0.1:1" }))
  end)

  it("shows no secret in tostring(client)", function()
    local c = new_client()
    local s = tostring(c)
    assert.matches("batchexport.client", s)
    assert.not_matches(m.rest_key, s, 1, true)
    assert.not_matches(m.project_key, s, 1, true)
  end)

  it("reports a missing key at the first call that needs it", function()
    local c = assert(batchexport.new({ rest_key = m.rest_key, base_url = m.api_url }))
    local e, err = c.exports.view("export_x")
    assert.is_nil(e)
    assert.equal("config", err.kind)
    assert.matches("project_key", err.message)
    assert.equal(0, #api_requests("/exports/view"))
  end)
end)

describe("exports.create", function()
  it("returns the new export's id (202)", function()
    local c = new_client()
    local id, err = c.exports.create(ATTRS)
    assert.is_nil(err)
    assert.matches("^export_", id)
    local e = assert(c.exports.view(id))
    assert.equal(id, e.id)
    assert.equal("PROFILE_ATTRIBUTES", e.scope)
  end)

  it("works with method syntax too", function()
    local c = new_client()
    assert.matches("^export_", assert(c.exports:create(ATTRS)))
  end)

  it("reports every problem at once before any network call", function()
    local c = new_client()
    local id, err = c.exports.create({ export_type = "EVENTS", events = { "push_opened" }, from = "yesterday" })
    assert.is_nil(id)
    assert.equal("validation", err.kind)
    assert.is_true(#err.problems >= 3)
    assert.matches("to: is required", err.message)
    assert.matches("push_opened", err.message)
    assert.matches("from:", err.message)
    assert.equal(0, #api_requests("/profiles/export"))
  end)

  it("gives an api error for 401 with status, code and message", function()
    local c = new_client({ rest_key = "wrong_key_0000" })
    local id, err = c.exports.create(ATTRS)
    assert.is_nil(id)
    assert.equal("api", err.kind)
    assert.equal(401, err.status)
    assert.is_string(err.code)
    assert.is_string(err.message)
    assert.is_false(err.retryable)
    remember(err)
  end)

  it("maps a 400 from the server to an api error", function()
    local c = new_client()
    m:fault({ method = "POST", path = "/2.11/profiles/export", status = 400,
      body = '{"error_message":"attributes: bad","error_code":"MALFORMED_PARAMETER"}' })
    local id, err = c.exports.create(ATTRS)
    assert.is_nil(id)
    assert.same({ "api", 400, "MALFORMED_PARAMETER", "attributes: bad" }, { err.kind, err.status, err.code, err.message })
    remember(err)
  end)

  it("does not repeat a POST that got a 500", function()
    local c = new_client()
    m:fault({ method = "POST", path = "/2.11/profiles/export", status = 500, times = 3,
      body = '{"error_message":"boom","error_code":"SERVER_ERROR"}' })
    local id, err = c.exports.create(ATTRS)
    assert.is_nil(id)
    assert.equal(500, err.status)
    assert.equal(1, err.attempts)
    assert.equal(1, #api_requests("/profiles/export"))
    remember(err)
  end)

  it("retries a POST after 429 with Retry-After and succeeds", function()
    local c = new_client()
    m:fault({ method = "POST", path = "/2.11/profiles/export", status = 429, retry_after = "1",
      body = '{"error_message":"slow down","error_code":"TOO_MANY_REQUESTS"}' })
    local started = require("batchexport.core").now()
    local id = assert(c.exports.create(ATTRS))
    assert.matches("^export_", id)
    -- it waited the second the server asked for (a wait the client performs)
    assert.is_true(require("batchexport.core").now() - started >= 1.0)
    -- one POST refused, one accepted, and the id is an export the server has
    local posts = api_requests("/profiles/export")
    assert.equal(2, #posts)
    assert.equal(429, posts[1].status)
    assert.equal(202, posts[2].status)
    assert.equal(200, (m:v2("GET", "/exports/view?id=" .. id)))
  end)

  it("honours Retry-After given as an HTTP-date", function()
    local c = new_client()
    m:fault({ path = "/2.11/exports/view", status = 503, retry_after_date = 2,
      body = '{"error_message":"maintenance","error_code":"MAINTENANCE"}' })
    local e = assert(m:create_export({ status = "SUCCESS" }))
    local core = require("batchexport.core")
    local started = core.now()
    assert.equal(e.id, assert(c.exports.view(e.id)).id)
    -- an HTTP-date has whole seconds: "2 s from now" is at least 1 s away
    assert.is_true(core.now() - started >= 1.0)
    assert.equal(2, #api_requests("/exports/view"))
  end)

  it("returns a Retry-After longer than max_retry_after instead of waiting", function()
    local c = new_client({ max_retry_after = 5 })
    m:fault({ path = "/2.11/exports/view", status = 429, retry_after = "3600",
      body = '{"error_message":"slow down","error_code":"TOO_MANY_REQUESTS"}' })
    local e, err = c.exports.view("export_x")
    assert.is_nil(e)
    assert.equal(429, err.status)
    assert.is_true(err.retryable)
    assert.equal(3600, err.retry_after)
    assert.equal(1, err.attempts)
  end)

  it("does not repeat a POST whose connection closed after it was sent", function()
    local c = new_client()
    m:fault({ method = "POST", path = "/2.11/profiles/export", close = true })
    local id, err = c.exports.create(ATTRS)
    assert.is_nil(id)
    assert.equal("network", err.kind)
    assert.equal(1, err.attempts)
    assert.equal(1, #api_requests("/profiles/export"))
  end)
end)

describe("exports.view", function()
  it("returns integers for count-like fields and nil for JSON null", function()
    local c = new_client()
    local e = assert(m:create_export({ status = "SUCCESS", parts = 2, part_size = 2048 }))
    local got = assert(c.exports.view(e.id))
    assert.equal("SUCCESS", got.status)
    assert.equal(2, #got.files)
    for i, f in ipairs(got.files) do
      assert_integer(f.part)
      assert_integer(f.size)
      assert.equal(i, f.part)
    end
    m:fault({ path = "/2.11/exports/view", status = 200,
      body = '{"id":"export_n","status":"RUNNING","scope":"PROFILE_EVENTS","completion_date":null,"files":[],"request":{}}' })
    local n = assert(c.exports.view("export_n"))
    assert.is_nil(n.completion_date)
    assert.equal("RUNNING", n.status)
  end)

  it("gives an api error with status 404 for an unknown id", function()
    local c = new_client()
    local e, err = c.exports.view("export_doesnotexist000000000000000000")
    assert.is_nil(e)
    assert.equal("api", err.kind)
    assert.equal(404, err.status)
    assert.is_false(err.retryable)
    assert.matches("/exports/view%?id=export_doesnotexist", tostring(err))
    assert.matches("^%x+$", err.request_id)
    assert.matches("request id " .. err.request_id, tostring(err), 1, true)
    remember(err)
  end)

  it("refuses a malformed id before any request", function()
    local c = new_client()
    for _, bad in ipairs({ "", "a\r\nX-Evil: 1", "has space", 42, string.rep("x", 300) }) do
      local e, err = c.exports.view(bad)
      assert.is_nil(e)
      assert.equal("validation", err.kind)
    end
    assert.equal(0, #api_requests("/exports/view"))
  end)

  it("percent-encodes the id", function()
    local c = new_client()
    local e, err = c.exports.view("export_a+b/c=d&e")
    assert.is_nil(e)
    assert.equal(404, err.status)
    local r = api_requests("/exports/view")[1]
    assert.equal("id=export_a%2Bb%2Fc%3Dd%26e", r.query)
  end)

  it("retries a GET through a 503 storm and then reports a retryable error", function()
    local c = new_client({ max_attempts = 3 })
    m:fault({ path = "/2.11/exports/view", status = 503, times = 10,
      body = '{"error_message":"maintenance","error_code":"MAINTENANCE"}' })
    local e, err = c.exports.view("export_x")
    assert.is_nil(e)
    assert.equal("api", err.kind)
    assert.equal(503, err.status)
    assert.is_true(err.retryable)
    assert.equal(3, err.attempts)
    assert.equal(3, #api_requests("/exports/view"))
    remember(err)
  end)

  it("retries a GET whose connection dropped, and one that timed out", function()
    local lines = {}
    local c = new_client({ timeout = 1, logger = function(_, line) lines[#lines + 1] = remember(line) end })
    local e = assert(m:create_export({ status = "SUCCESS" }))
    m:fault({ path = "/2.11/exports/view", close = true })
    m:fault({ path = "/2.11/exports/view", delay = 3 })
    local got = assert(c.exports.view(e.id))
    assert.equal(e.id, got.id)
    -- The mock logs the timed-out request only when its delay ends: count attempts on our side.
    assert.equal(3, #lines)
    assert.matches("Empty reply", lines[1])
    assert.matches("timed out", lines[2])
    assert.matches("%-> 200 .*attempt 3", lines[3])
  end)

  it("gives a timeout error when every attempt times out", function()
    local c = new_client({ timeout = 0.5, max_attempts = 2 })
    m:fault({ path = "/2.11/exports/view", stall = 3, times = 2 })
    local e, err = c.exports.view("export_x")
    assert.is_nil(e)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.equal(2, err.attempts)
  end)

  it("gives a decode error for a malformed or truncated body", function()
    local c = new_client({ max_attempts = 1 })
    local e = assert(m:create_export({ status = "SUCCESS" }))
    m:fault({ path = "/2.11/exports/view", malformed_json = true })
    local got, err = c.exports.view(e.id)
    assert.is_nil(got)
    assert.equal("decode", err.kind)
    m:fault({ path = "/2.11/exports/view", truncate_json = true })
    got, err = c.exports.view(e.id)
    assert.is_nil(got)
    assert.truthy(err.kind == "decode" or err.kind == "network")
  end)

  it("caps the size of a response body", function()
    local c = new_client({ max_body = 512, max_attempts = 1 })
    local ok, err = pcall(function() for _ in c.exports.list({ limit = 100 }) do end end)
    assert.is_false(ok)
    assert.equal("http", err.kind)
    assert.matches("larger than the limit", err.message)
  end)
end)

describe("exports.list and exports.pages", function()
  local function collect(c, limit)
    local ids = {}
    for e in c.exports.list({ limit = limit }) do ids[#ids + 1] = e.id end
    return ids
  end

  it("yields every export exactly once, newest first, whatever the page size", function()
    local c = new_client()
    local by100 = collect(c, 100)
    assert.is_true(#by100 >= 250)
    local seen = {}
    for _, id in ipairs(by100) do
      assert.is_nil(seen[id])
      seen[id] = true
    end
    assert.same(by100, collect(c, 7))
    assert.same(by100, collect(c, 1))
    local last
    for e in c.exports.list({ limit = 50 }) do
      if last then assert.is_true(e.request_date <= last) end
      last = e.request_date
    end
  end)

  it("uses one TCP connection for a whole listing", function()
    local c = new_client()
    m:clear_log()
    local n = 0
    for _ in c.exports.list({ limit = 10 }) do n = n + 1 end
    local reqs = api_requests("/exports/list")
    assert.is_true(#reqs >= 25)
    for _, r in ipairs(reqs) do
      assert.equal(reqs[1].connection, r.connection)
    end
    assert.equal(#reqs, reqs[#reqs].connection_requests - reqs[1].connection_requests + 1)
  end)

  it("resumes from a saved next_from", function()
    local c = new_client()
    local all = {}
    for e in c.exports.list({ limit = 100 }) do all[#all + 1] = e.id end
    local first, saved = {}, nil
    local n = 0
    for page in c.exports.pages({ limit = 7 }) do
      assert_integer(page.count)
      assert.equal(#page.exports, page.count)
      for _, e in ipairs(page.exports) do first[#first + 1] = e.id end
      n = n + 1
      if n == 3 then saved = page.next_from break end
    end
    assert.is_string(saved)
    for e in c.exports.list({ limit = 7, from = saved }) do first[#first + 1] = e.id end
    assert.same(all, first)
  end)

  it("stops with an error when the server repeats a cursor", function()
    local c = new_client()
    local page = '{"exports":[],"count":0,"has_more":true,"next_from":"c2FtZQ+/="}'
    m:fault({ path = "/2.11/exports/list", status = 200, body = page, times = 5 })
    local ok, err = pcall(function() for _ in c.exports.list({ limit = 5 }) do end end)
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.matches("already", err.message)
    assert.equal(2, #api_requests("/exports/list"))
  end)

  it("raises an error object that pcall returns, for bad options and API errors", function()
    local c = new_client()
    local ok, err = pcall(c.exports.list, { limit = 0 })
    assert.is_false(ok)
    assert.equal("validation", err.kind)
    ok, err = pcall(c.exports.list, { limt = 5 })
    assert.is_false(ok)
    assert.matches('unknown option "limt"', err.message)
    m:fault({ path = "/2.11/exports/list", status = 401,
      body = '{"error_message":"bad key","error_code":"AUTHENTICATION_INVALID"}' })
    ok, err = pcall(function() for _ in c.exports.list() do end end)
    assert.is_false(ok)
    assert.equal(401, err.status)
    assert.matches("^batchexport: api 401", tostring(err))
    remember(err)
  end)
end)

describe("TLS", function()
  local tm
  setup(function() tm = mock.start({ tls = true }) end)
  teardown(function() if tm then tm:stop() end end)

  it("works against HTTPS with the mock's CA and fails clearly without it", function()
    local c = assert(batchexport.new({ rest_key = tm.rest_key, project_key = tm.project_key,
      base_url = tm.api_url, ca_file = tm.ca_file }))
    local id = assert(c.exports.create(ATTRS))
    assert.matches("^export_", id)
    local bare = assert(batchexport.new({ rest_key = tm.rest_key, project_key = tm.project_key,
      base_url = tm.api_url, max_attempts = 3 }))
    local e, err = bare.exports.view(id)
    assert.is_nil(e)
    assert.equal("network", err.kind)
    assert.matches("TLS", err.message)
    assert.is_false(err.retryable)
    assert.equal(1, err.attempts)
    remember(err)
  end)
end)

describe("secrets", function()
  it("appear in no error or log line produced by these specs", function()
    assert.is_true(#seen_text > 10)
    for _, text in ipairs(seen_text) do
      assert.is_nil(text:find(m.rest_key, 1, true), text)
      assert.is_nil(text:find(m.project_key, 1, true), text)
      assert.is_nil(text:find(m.api_key, 1, true), text)
    end
  end)
end)
