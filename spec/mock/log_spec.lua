-- The request log: fields, connection reuse, and proof of which credentials
-- reached which origin (presence only, never values).
local mock = require("spec.support.mock")
local cjson = require("cjson")

local m

setup(function() m = mock.start({ history = 30 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

local function auth_args()
  return "-H " .. mock.sh_quote("Authorization: Bearer " .. m.rest_key) .. " -H "
    .. mock.sh_quote("X-Batch-Project: " .. m.project_key)
end

describe("request log", function()
  it("records every field for both hosts, oldest first, without the control API", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 5000 })
    m:clear_log()
    local _, h = m:v2("GET", "/exports/download?id=" .. e.files[1].id)
    mock.request({ url = h.location, headers = { range = "bytes=0-99" } })
    m:legacy("GET", "request/nope")
    local reqs = m:log().requests
    assert.equal(3, #reqs)
    local a, s, l = reqs[1], reqs[2], reqs[3]
    assert.equal("api", a.host)
    assert.equal("GET", a.method)
    assert.equal("/2.11/exports/download", a.path)
    assert.equal("id=" .. e.files[1].id, a.query)
    assert.is_true(a.authorization)
    assert.is_true(a.x_batch_project)
    assert.is_false(a.x_authorization)
    assert.equal(307, a.status)
    assert.truthy(a.bytes_sent > 0)
    assert.is_number(a.connection)
    assert.equal(1, a.connection_requests)
    assert.equal(cjson.null, a.range)
    assert.truthy(math.abs(a.time - os.time()) < 60)

    assert.equal("storage", s.host)
    assert.equal(206, s.status)
    assert.equal("bytes=0-99", s.range)
    assert.is_false(s.authorization)
    assert.is_false(s.x_batch_project)
    assert.matches("^Expires=%d+&Signature=", s.query)
    assert.truthy(s.bytes_sent > 100)

    assert.equal("api", l.host)
    assert.is_true(l.x_authorization)
    assert.is_false(l.authorization)
    assert.equal(404, l.status)
    assert.truthy(a.time <= s.time and s.time <= l.time)
  end)

  it("never holds a header value", function()
    m:v2("GET", "/exports/list?limit=1")
    m:legacy("GET", "request/x")
    local _, _, raw = mock.request({ url = m.api_url .. "/_mock/log" })
    assert.matches('"x_authorization":true', raw)
    assert.is_nil(raw:find(m.rest_key, 1, true))
    assert.is_nil(raw:find(m.project_key, 1, true))
  end)

  it("shows connection reuse with the connection id and its request count", function()
    local url = m.api_url .. "/2.11/exports/list?limit=1"
    mock.curl(auth_args() .. " -o /dev/null -o /dev/null " .. mock.sh_quote(url) .. " " .. mock.sh_quote(url))
    mock.request({ url = url }) -- luasocket: a new connection each time
    local reqs = m:log().requests
    assert.equal(3, #reqs)
    assert.equal(reqs[1].connection, reqs[2].connection)
    assert.equal(1, reqs[1].connection_requests)
    assert.equal(2, reqs[2].connection_requests)
    assert.not_equal(reqs[1].connection, reqs[3].connection)
    assert.equal(1, reqs[3].connection_requests)
  end)

  it("tells which credentials followed a redirect to storage", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 3000 })
    m:clear_log()
    -- curl drops Authorization on a cross-origin redirect but forwards custom headers
    mock.curl("-L -o /dev/null " .. auth_args() .. " "
      .. mock.sh_quote(m.api_url .. "/2.11/exports/download?id=" .. e.files[1].id))
    local reqs = m:log().requests
    assert.equal(2, #reqs)
    assert.equal("storage", reqs[2].host)
    assert.equal(200, reqs[2].status)
    assert.is_false(reqs[2].authorization)
    assert.is_true(reqs[2].x_batch_project)
    assert.truthy(reqs[2].bytes_sent > 3000) -- headers and the whole body
  end)

  it("logs faults' effects: closed connections and cut bodies", function()
    m:fault({ path = "/2.11/exports/list", close = true })
    m:fault({ path = "/2.11/exports/list", cut_after = 10 })
    mock.curl(auth_args() .. " -o /dev/null " .. mock.sh_quote(m.api_url .. "/2.11/exports/list"))
    mock.curl(auth_args() .. " -o /dev/null " .. mock.sh_quote(m.api_url .. "/2.11/exports/list"))
    local reqs = m:log().requests
    assert.equal(444, reqs[1].status)
    assert.equal(0, reqs[1].bytes_sent)
    assert.equal(200, reqs[2].status)
    assert.truthy(reqs[2].bytes_sent < 400)
  end)

  it("is cleared by DELETE and by reset", function()
    m:v2("GET", "/exports/list?limit=1")
    assert.equal(1, #m:log().requests)
    m:clear_log()
    assert.equal(0, #m:log().requests)
    m:v2("GET", "/exports/list?limit=1")
    m:reset()
    assert.equal(0, #m:log().requests)
  end)
end)

describe("control API", function()
  it("reports and moves the clock, and changes config", function()
    local t0 = m:now()
    local t1 = m:advance(3600)
    assert.truthy(t1 - t0 >= 3600)
    local cfg = m:config({ speed = 10, link_ttl = 5, created = 1, pending = 1, running = 1 })
    assert.equal(10, cfg.speed)
    assert.equal(5, cfg.link_ttl)
    local a = m:now()
    -- Real time on purpose: speed is mock seconds per real second (0.2 s
    -- at 10 is 2 mock s, so at least 1.5 whatever the load).
    mock.sleep(0.2)
    assert.truthy(m:now() - a >= 1.5)
    local r, status = m:control("POST", "/_mock/config", { sped = 3 })
    assert.equal(400, status)
    assert.matches("sped", r.error)
    m:reset()
    local info = m:control("GET", "/_mock/info")
    assert.equal(1, info.speed)
    assert.equal(1200, info.link_ttl)
    assert.truthy(math.abs(m:now() - os.time()) < 5)
  end)

  it("404s an unknown control route with JSON", function()
    local r, status = m:control("GET", "/_mock/nope")
    assert.equal(404, status)
    assert.is_string(r.error)
  end)
end)
