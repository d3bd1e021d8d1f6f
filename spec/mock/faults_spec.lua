-- Fault injection through the control API, on both hosts, observed with curl
-- and luasocket.
local mock = require("spec.support.mock")
local cjson = require("cjson")

local m

setup(function() m = mock.start({ history = 30 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

local LIST = "/2.11/exports/list"

local function auth_args()
  return "-H " .. mock.sh_quote("Authorization: Bearer " .. m.rest_key) .. " -H "
    .. mock.sh_quote("X-Batch-Project: " .. m.project_key)
end

-- curl with -w: returns exit code, http code, body
local function curl_list(extra)
  local out, code = mock.curl((extra or "") .. " " .. auth_args() .. " -w '\n%{http_code}' "
    .. mock.sh_quote(m.api_url .. LIST .. "?limit=2"))
  local body, http = out:match("^(.*)\n(%d+)$")
  return code, tonumber(http), body
end

describe("faults", function()
  it("answers a queued error status with a Batch-shaped body and Retry-After, for the next N requests only", function()
    local id = m:fault({ path = LIST, status = 503, retry_after = "3", times = 2 })
    assert.is_number(id)
    for _ = 1, 2 do
      local status, h, body = m:v2("GET", "/exports/list")
      assert.equal(503, status)
      assert.equal("3", h["retry-after"])
      assert.equal("MAINTENANCE", cjson.decode(body).error_code)
    end
    assert.equal(200, (m:v2("GET", "/exports/list")))
  end)

  it("takes a custom body, an HTTP-date Retry-After, and matches method and path prefix", function()
    m:fault({ method = "POST", path = "/2.11/profiles", status = 429, retry_after_date = 30,
      body = '{"error_message":"Too many","error_code":"TOO_MANY_REQUESTS"}' })
    assert.equal(200, (m:v2("GET", "/exports/list?limit=1"))) -- not matched
    local status, h, body = m:v2("POST", "/profiles/export", { export_type = "ATTRIBUTES", identifiers = { "custom_id" } })
    assert.equal(429, status)
    assert.matches("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$", h["retry-after"])
    assert.equal("TOO_MANY_REQUESTS", cjson.decode(body).error_code)
  end)

  it("shapes legacy errors like the legacy API", function()
    m:fault({ path = "/1.0/", status = 500 })
    local status, _, body = m:legacy("GET", "request/x")
    assert.equal(500, status)
    local e = cjson.decode(body).error
    assert.equal("SERVER_ERROR", e.name)
    assert.equal(1, e.code)
  end)

  it("adds the fault's own headers, such as a hostile Location", function()
    m:fault({ path = "/2.11/exports/download", status = 307, headers = { Location = "http://127.0.0.1:9/{api_key}" } })
    local status, h = m:v2("GET", "/exports/download?id=x")
    assert.equal(307, status)
    assert.equal("http://127.0.0.1:9/{api_key}", h["location"])
  end)

  it("refuses headers that are not strings", function()
    local _, status = m:control("POST", "/_mock/faults", { status = 500, headers = { X = 1 } })
    assert.equal(400, status)
  end)

  it("sends an endless body until the client hangs up", function()
    m:fault({ host = "storage", status = 500, endless = true })
    local out = mock.curl("-s --max-filesize 0 --max-time 1 -o /dev/null -w '%{size_download}' "
      .. mock.sh_quote(m.storage_url .. "/exports/a/b"))
    assert.is_true(tonumber(out:match("%d+")) > 4 * 1024 * 1024)
  end)

  it("delays a response", function()
    m:fault({ path = LIST, delay = 0.4 })
    local t = mock.gettime()
    assert.equal(200, (m:v2("GET", "/exports/list?limit=1")))
    assert.truthy(mock.gettime() - t >= 0.35)
  end)

  it("stalls after the headers", function()
    m:fault({ path = LIST, stall = 1.5 })
    local code, http = curl_list("-m 0.6")
    -- curl's own 0.6 s limit ended it after the headers: the body never came
    assert.equal(28, code)
    assert.equal(200, http)
  end)

  it("closes the connection before any response", function()
    m:fault({ path = LIST, close = true })
    local code = curl_list()
    assert.equal(52, code) -- empty reply from server
    assert.equal(200, (m:v2("GET", "/exports/list?limit=1")))
  end)

  it("cuts the body after K bytes", function()
    m:fault({ path = LIST, cut_after = 25 })
    local code, http, body = curl_list()
    assert.equal(18, code) -- partial file
    assert.equal(200, http)
    assert.equal(25, #body)
  end)

  it("sends malformed and truncated JSON, and a wrong content type", function()
    m:fault({ path = LIST, malformed_json = true })
    local status, _, body = m:v2("GET", "/exports/list?limit=2")
    assert.equal(200, status)
    assert.is_false(pcall(cjson.decode, body))
    m:fault({ path = LIST, truncate_json = true })
    local _, h, body2 = m:v2("GET", "/exports/list?limit=2")
    assert.is_false(pcall(cjson.decode, body2))
    assert.equal(tostring(#body2), h["content-length"])
    m:fault({ path = LIST, content_type = "text/html" })
    local _, h3, body3 = m:v2("GET", "/exports/list?limit=2")
    assert.equal("text/html", h3["content-type"])
    assert.truthy(pcall(cjson.decode, body3))
  end)

  it("lists pending faults, clears them, and reset clears them too", function()
    m:fault({ path = LIST, status = 500, times = 3 })
    m:fault({ host = "storage", path = "/", close = true })
    local pending = m:faults()
    assert.equal(2, #pending)
    assert.equal(3, pending[1].remaining)
    m:v2("GET", "/exports/list")
    assert.equal(2, m:faults()[1].remaining)
    m:clear_faults()
    assert.equal(0, #m:faults())
    m:fault({ path = LIST, status = 500 })
    m:reset()
    assert.equal(200, (m:v2("GET", "/exports/list")))
  end)

  it("rejects an invalid fault with a clear message", function()
    local r, status = m:control("POST", "/_mock/faults", { path = LIST, stauts = 500 })
    assert.equal(400, status)
    assert.matches("stauts", r.error)
    r, status = m:control("POST", "/_mock/faults", { path = LIST })
    assert.equal(400, status)
    r, status = m:control("POST", "/_mock/faults", { host = "cdn", status = 500 })
    assert.equal(400, status)
    assert.matches("host", r.error)
  end)
end)

describe("storage faults", function()
  local url, whole
  before_each(function()
    local e = m:create_export({ status = "SUCCESS", part_size = 300000 })
    local _, h = m:v2("GET", "/exports/download?id=" .. e.files[1].id)
    url = h.location
    _, _, whole = mock.request({ url = url })
  end)

  it("error status, close and delay", function()
    m:fault({ host = "storage", path = "/exports/", status = 503, retry_after = "1" })
    local status, h = mock.request({ url = url })
    assert.equal(503, status)
    assert.equal("1", h["retry-after"])
    m:fault({ host = "storage", path = "/exports/", close = true })
    local _, code = mock.curl("-o /dev/null " .. mock.sh_quote(url))
    assert.equal(52, code)
    m:fault({ host = "storage", delay = 0.3 })
    local t = mock.gettime()
    assert.equal(200, (mock.request({ url = url })))
    assert.truthy(mock.gettime() - t >= 0.25)
  end)

  it("cuts a download, and the client can resume it with Range", function()
    m:fault({ host = "storage", path = "/exports/", cut_after = 100000 })
    local tmp = os.tmpname()
    local _, code = mock.curl("-o " .. tmp .. " " .. mock.sh_quote(url))
    assert.equal(18, code)
    local _, code2 = mock.curl("-C - -o " .. tmp .. " " .. mock.sh_quote(url))
    assert.equal(0, code2)
    local fh = io.open(tmp, "rb")
    local data = fh:read("a")
    fh:close()
    os.remove(tmp)
    assert.equal(whole, data)
    local ranges = {}
    for _, r in ipairs(m:log().requests) do
      if r.host == "storage" and r.range ~= cjson.null then ranges[#ranges + 1] = r.range end
    end
    assert.same({ "bytes=100000-" }, ranges)
  end)

  it("ignores Range when asked to, answering 200 with the whole file", function()
    m:fault({ host = "storage", ignore_range = true })
    local status, _, body = mock.request({ url = url, headers = { range = "bytes=10-19" } })
    assert.equal(200, status)
    assert.equal(whole, body)
  end)

  it("stalls a download after the headers", function()
    m:fault({ host = "storage", stall = 1.5 })
    local _, code = mock.curl("-m 0.6 -o /dev/null " .. mock.sh_quote(url))
    assert.equal(28, code)   -- curl's own 0.6 s limit: the body never came
  end)

  it("serves a range through the fault path as well", function()
    m:fault({ host = "storage", content_type = "text/plain" })
    local status, h, body = mock.request({ url = url, headers = { range = "bytes=5-9" } })
    assert.equal(206, status)
    assert.equal("text/plain", h["content-type"])
    assert.equal(whole:sub(6, 10), body)
  end)
end)
