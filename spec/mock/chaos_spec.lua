-- Random faults (POST /_mock/chaos): seeded, counted, logged, and drawn only
-- among the kinds that make sense for each request.
local mock = require("spec.support.mock")
local cjson = require("cjson")

local m

setup(function() m = mock.start({ history = 10 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

local function chaos(t)
  local r, status = m:control("POST", "/_mock/chaos", t)
  assert.equal(201, status, type(r) == "table" and r.error or r)
  return r
end

local function list_statuses(n)
  local out = {}
  for i = 1, n do out[i] = (m:v2("GET", "/exports/list?limit=1")) end
  return out
end

-- A fresh storage link to a file of `size` bytes, and the file's bytes.
local function storage_link(size)
  local e = m:create_export({ status = "SUCCESS", part_size = size or 200000 })
  local _, h = m:v2("GET", "/exports/download?id=" .. e.files[1].id)
  local _, _, whole = mock.request({ url = h.location })
  return h.location, whole
end

describe("chaos", function()
  it("refuses bad settings with a message naming the field", function()
    local cases = {
      { { rate = 1.5 }, "rate" }, { { seed = 1 }, "rate" }, { { rate = 0.1, kinds = { "503", "flood" } }, "flood" },
      { { rate = 0.1, kinds = {} }, "kinds" }, { { rate = 0.1, rat = 1 }, "rat" }, { { rate = 0.1, host = "cdn" }, "host" },
      { { rate = 0.1, stall = -1 }, "stall" }, { { rate = 0.1, seed = 1.5 }, "seed" },
    }
    for _, c in ipairs(cases) do
      local r, status = m:control("POST", "/_mock/chaos", c[1])
      assert.equal(400, status)
      assert.matches(c[2], r.error, 1, true)
    end
    assert.is_false(m:control("GET", "/_mock/chaos").on)
  end)

  it("faults every matching request at rate 1, counts and logs each, and stops on DELETE", function()
    chaos({ rate = 1, kinds = { "503" }, host = "api" })
    for _, s in ipairs(list_statuses(3)) do assert.equal(503, s) end
    local r = m:control("GET", "/_mock/chaos")
    assert.is_true(r.on)
    assert.equal(3, r.requests)
    assert.equal(3, r.injected["503"])
    assert.equal(3, r.total)
    local logged = 0
    for _, e in ipairs(m:log().requests) do
      if e.chaos == "503" and e.status == 503 then logged = logged + 1 end
    end
    assert.equal(3, logged)
    local final = m:control("DELETE", "/_mock/chaos")
    assert.equal(3, final.total)
    assert.is_false(m:control("GET", "/_mock/chaos").on)
    assert.equal(200, list_statuses(1)[1])
  end)

  it("is repeatable from its seed and differs with another", function()
    local function run(seed)
      m:reset()
      chaos({ rate = 0.5, seed = seed, kinds = { "503" } })
      return table.concat(list_statuses(40), ",")
    end
    local a, b, c = run(7), run(7), run(8)
    assert.equal(a, b)
    assert.not_equal(a, c)
    assert.matches("503", a)
    assert.matches("200", a)
  end)

  it("faults about `rate` of the requests, among every kind that applies", function()
    chaos({ rate = 0.1, seed = 3, host = "api", stall = 0, stall_long = 0 })
    list_statuses(400)
    local r = m:control("GET", "/_mock/chaos")
    assert.equal(400, r.requests)
    assert.is_true(r.total >= 20 and r.total <= 60, "injected " .. r.total)
    -- The API host has no body to cut, no link to expire, no Range to ignore.
    assert.equal(0, r.injected.cut + r.injected.expired + r.injected.ignore_range)
    for _, k in ipairs({ "close", "429", "503", "stall", "stall_long" }) do
      assert.is_true(r.injected[k] > 0, k .. " never drawn")
    end
  end)

  it("draws kinds in proportion to their weights", function()
    chaos({ rate = 1, seed = 9, host = "api", kinds = { "429", "503" }, weights = { ["429"] = 0, ["503"] = 3 } })
    for _, s in ipairs(list_statuses(5)) do assert.equal(503, s) end
    chaos({ rate = 1, seed = 9, host = "api", kinds = { "429", "503" }, weights = { ["429"] = 4 } })
    list_statuses(100)
    local r = m:control("GET", "/_mock/chaos")
    assert.is_true(r.injected["429"] > 2 * r.injected["503"], r.injected["429"] .. " vs " .. r.injected["503"])
    assert.equal(4, r.weights["429"])
    local bad, status = m:control("POST", "/_mock/chaos", { rate = 1, weights = { flood = 1 } })
    assert.equal(400, status)
    assert.matches("flood", bad.error, 1, true)
    bad, status = m:control("POST", "/_mock/chaos", { rate = 1, weights = { cut = -1 } })
    assert.equal(400, status)
    assert.matches("weights.cut", bad.error, 1, true)
  end)

  it("stops at reset, and queued faults come first", function()
    chaos({ rate = 1, kinds = { "503" } })
    m:fault({ path = "/2.11/exports/list", status = 500 })
    assert.same({ 500, 503 }, list_statuses(2))
    m:reset()
    assert.equal(200, list_statuses(1)[1])
    assert.is_false(m:control("GET", "/_mock/chaos").on)
  end)

  it("sends 429 with a small Retry-After", function()
    chaos({ rate = 1, kinds = { "429" }, retry_after_max = 1 })
    for _ = 1, 6 do
      local status, h = m:v2("GET", "/exports/list?limit=1")
      assert.equal(429, status)
      assert.is_truthy(h["retry-after"] == "0" or h["retry-after"] == "1", h["retry-after"])
    end
  end)
end)

describe("chaos on storage", function()
  it("expires a link as storage does: 403 AccessDenied", function()
    local url = storage_link()
    chaos({ rate = 1, kinds = { "expired" }, host = "storage" })
    local status, _, body = mock.request({ url = url })
    assert.equal(403, status)
    assert.matches("<Code>AccessDenied</Code>", body, 1, true)
    assert.matches("Request has expired", body, 1, true)
  end)

  it("cuts a body at a random byte, different from one request to the next", function()
    local url, whole = storage_link(200000)
    chaos({ rate = 1, kinds = { "cut" }, host = "storage", seed = 5 })
    local sizes = {}
    for i = 1, 3 do
      local out, code = mock.curl("-o /dev/null -w '%{size_download}' " .. mock.sh_quote(url))
      assert.equal(18, code) -- partial file
      sizes[i] = tonumber(out)
      assert.is_true(sizes[i] < #whole)
    end
    assert.is_true(sizes[1] ~= sizes[2] or sizes[2] ~= sizes[3])
    -- a resumed request is cut within what it asked for
    local out, code = mock.curl("-r 150000- -o /dev/null -w '%{http_code} %{size_download}' " .. mock.sh_quote(url))
    assert.equal(18, code)
    local http, got = out:match("^(%d+) (%d+)$")
    assert.equal("206", http)
    assert.is_true(tonumber(got) < 50000)
  end)

  it("ignores Range only on requests that send one", function()
    local url, whole = storage_link()
    chaos({ rate = 1, kinds = { "ignore_range" }, host = "storage" })
    local status, _, body = mock.request({ url = url })
    assert.equal(200, status)
    assert.equal(whole, body)
    assert.equal(0, m:control("GET", "/_mock/chaos").total)
    status, _, body = mock.request({ url = url, headers = { range = "bytes=10-19" } })
    assert.equal(200, status)
    assert.equal(whole, body)
    assert.equal(1, m:control("GET", "/_mock/chaos").injected.ignore_range)
  end)

  it("faults resumes (requests with Range) at range_rate", function()
    local url = storage_link()
    chaos({ rate = 0, range_rate = 1, kinds = { "503" }, host = "storage" })
    assert.equal(200, (mock.request({ url = url })))
    assert.equal(503, (mock.request({ url = url, headers = { range = "bytes=10-" } })))
    local r = m:control("GET", "/_mock/chaos")
    assert.equal(1, r.total)
    assert.equal(2, r.requests)
    assert.equal(1, r.ranges)
    assert.equal(1, r.range_rate)
    local _, status = m:control("POST", "/_mock/chaos", { rate = 0.1, range_rate = 2 })
    assert.equal(400, status)
  end)

  it("stalls at a random byte of the body, then sends the rest", function()
    local url, whole = storage_link()
    chaos({ rate = 1, kinds = { "stall" }, host = "storage", stall = 0.2 })
    local status, _, body = mock.request({ url = url })
    assert.equal(200, status)
    assert.equal(whole, body)
    local found
    for _, e in ipairs(m:log().requests) do
      if e.host == "storage" and e.chaos ~= cjson.null then found = e.chaos end
    end
    assert.equal("stall", found)
  end)

  it("closes, and answers 503 in storage's XML", function()
    local url = storage_link()
    chaos({ rate = 1, kinds = { "close" }, host = "storage" })
    local _, code = mock.curl("-o /dev/null " .. mock.sh_quote(url))
    assert.equal(52, code) -- empty reply
    chaos({ rate = 1, kinds = { "503" }, host = "storage" })
    local status, _, body = mock.request({ url = url })
    assert.equal(503, status)
    assert.matches("<Code>ServiceUnavailable</Code>", body, 1, true)
  end)

  it("leaves the control API alone", function()
    chaos({ rate = 1, kinds = { "503", "close" } })
    for _ = 1, 5 do
      local _, status = m:control("GET", "/_mock/info")
      assert.equal(200, status)
    end
    assert.equal(0, m:control("GET", "/_mock/chaos").requests)
  end)
end)

describe("fault fields for soaks", function()
  it("stall_at holds the body back after that many bytes", function()
    local url, whole = storage_link(200000)
    m:fault({ host = "storage", path = "/exports/", stall = 30, stall_at = 1000 })
    -- curl gives up long before the stall ends: it got exactly the bytes before it
    local out, code = mock.curl("-m 2 -o /dev/null -w '%{size_download}' " .. mock.sh_quote(url))
    assert.equal(28, code)
    assert.equal("1000", out)
    m:fault({ host = "storage", path = "/exports/", stall = 0.1, stall_at = 1000 })
    local status, _, body = mock.request({ url = url })
    assert.equal(200, status)
    assert.equal(whole, body)
  end)

  it("stall_at needs stall", function()
    local r, status = m:control("POST", "/_mock/faults", { host = "storage", stall_at = 10 })
    assert.equal(400, status)
    assert.matches("stall_at needs stall", r.error, 1, true)
  end)

  it("expired answers as storage does for a link past its Expires", function()
    local url = storage_link()
    m:fault({ host = "storage", expired = true })
    local status, _, body = mock.request({ url = url })
    assert.equal(403, status)
    assert.matches("Request has expired", body, 1, true)
    assert.equal(200, (mock.request({ url = url })))
  end)
end)
