-- Issue #10, item 2: the plain-http guard decides on the parsed host, not on
-- text. Every URL here is refused (or accepted) by batchexport.new itself,
-- which sends nothing: no test in this file opens a connection.
local batchexport = require("batchexport")
local core = require("batchexport.core")

local SECRET = "s3cr3t-pass-word"

local function refused(url, extra)
  local opts = { base_url = url, rest_key = "rest_key_value", api_key = "api_key_value" }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local c, err = batchexport.new(opts)
  assert.is_nil(c, url .. " was accepted")
  assert.equal("config", err.kind, url)
  assert.matches("base_url", err.message)
  assert.is_nil(tostring(err):find(SECRET, 1, true), "the user-info's password shows in the error")
  return err
end

local function accepted(url, extra)
  local opts = { base_url = url }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local c, err = batchexport.new(opts)
  assert.is_not_nil(c, url .. " was refused: " .. tostring(err))
  c:close()
  return c
end

describe("base_url: the plain-http guard reads the parsed host", function()
  it("refuses hosts that only look like loopback in the text", function()
    for _, url in ipairs({
      "http://127.0.0.1@other-host:8080",
      "http://127.0.0.1:8080@other-host:8080",
      "http://127.0.0.1.evil.example",
      "http://127.0.0.1.evil.example:8080",
      "http://localhost.evil.example",
      "http://localhost.evil.example:8080/x",
      "http://[::1].evil",
      "http://127.evil.example",
      "http://localhostevil.example",
      "http://evil.example/127.0.0.1",
      "http://evil.example:80/localhost",
      "http://0.0.0.0:8080",
      "http://[::2]:8080",
      "http://[::ffff:7f00:1]:8080",   -- v4-mapped: not one of the three loopback forms
      "http://%37:8080",               -- a percent-encoded host: "7" compared, 0.0.0.7 reached
      "http://%31%32%37.1:8080",       -- decoded "127.1", never normalized
    }) do
      refused(url)
    end
  end)

  it("refuses user-info in base_url, on any host, even with allow_http", function()
    for _, url in ipairs({
      "https://user:" .. SECRET .. "@api.example.com",
      "https://user@api.example.com",
      "http://user:" .. SECRET .. "@127.0.0.1:1",
      "http://:" .. SECRET .. "@localhost:1",
      "http://" .. SECRET .. "@[::1]:1",
    }) do
      local err = refused(url, { allow_http = true })
      assert.matches("user", err.message)
    end
  end)

  -- (libcurl reads "https:///path" as the host "path", as curl(1) does; the
  -- client then uses that parse, so what is checked is what is used.)
  it("refuses what is not an absolute http(s) URL with a host", function()
    for _, url in ipairs({
      "", "api.example.com", "//api.example.com", "ftp://api.example.com", "file:///etc/passwd",
      "https://", "https://api.example.com:99999", "https://api.example.com:-1",
      "https://api.example.com?x=1", "https://api.example.com/#frag", "https://api example.com",
      "https://api.example.com/\n", "https://api.example.com\0.evil", "http://[::1",
      "https://" .. string.rep("a", 70000) .. ".example",
    }) do
      refused(url)
    end
  end)

  it("accepts plain http to loopback: 127.0.0.0/8, ::1 and exactly localhost", function()
    for _, url in ipairs({
      "http://127.0.0.1:1", "http://127.0.0.1", "http://127.5.6.7:8080/prefix", "http://[::1]:1",
      "http://localhost:1", "http://LOCALHOST:1", "http://[0:0:0:0:0:0:0:1]:1",
    }) do
      accepted(url)
    end
  end)

  it("accepts https anywhere and plain http elsewhere only with allow_http", function()
    accepted("https://api.batch.com")
    accepted("https://api.example.com:8443/base/")
    refused("http://api.example.com")
    accepted("http://api.example.com", { allow_http = true })
  end)

  it("shows the parsed URL, never user-info, in tostring(client)", function()
    local c = accepted("HTTPS://API.Example.COM:443/base//")
    assert.matches("batchexport.client", tostring(c))
    assert.is_nil(tostring(c):find("@", 1, true))
  end)
end)

describe("core.parse_url", function()
  it("splits an absolute URL into its parts, port from the scheme by default", function()
    local u = assert(core.parse_url("https://api.batch.com/1.0/x?a=1"))
    assert.same({ scheme = "https", host = "api.batch.com", port = 443, path = "/1.0/x", query = "a=1",
      url = "https://api.batch.com/1.0/x?a=1" }, u)
    u = assert(core.parse_url("http://127.0.0.1:8080"))
    assert.equal("http", u.scheme)
    assert.equal(8080, u.port)
    assert.equal("/", u.path)
    assert.is_nil(u.query)
    assert.equal("[::1]", assert(core.parse_url("http://[::1]:1/")).host)
    u = assert(core.parse_url("http://user:pw@H/#frag"))
    assert.is_true(u.user)              -- whether, never what
    assert.equal("frag", u.fragment)
    assert.equal("http://h/", u.url)    -- no user-info, no fragment, default port left out
  end)

  it("resolves a relative reference against a base", function()
    local u = assert(core.parse_url("/exports/1?x=y", "http://127.0.0.1:9/2.11/exports/download?id=3"))
    assert.same({ scheme = "http", host = "127.0.0.1", port = 9, path = "/exports/1", query = "x=y",
      url = "http://127.0.0.1:9/exports/1?x=y" }, u)
  end)

  it("returns nil and a message for bad input, never raises", function()
    for _, s in ipairs({ "", "nope", "http://", "http://[::1", "http://h:99999/", "http://a b/",
                         "http://h/\0x", "//h/p", "gopher://h/", "http://%37/" }) do
      local u, why = core.parse_url(s)
      assert.is_nil(u, s)
      assert.is_string(why)
    end
  end)

  it("says whether a parsed host is loopback", function()
    for host, want in pairs({
      ["127.0.0.1"] = true, ["127.255.0.9"] = true, ["[::1]"] = true, localhost = true, LocalHost = true,
      ["127.0.0.1.evil"] = false, ["localhost.evil"] = false, ["[::2]"] = false, ["10.0.0.1"] = false,
      [""] = false, ["127.0.0"] = false, ["::1"] = false,
    }) do
      assert.equal(want, core.is_loopback(host), host)
    end
  end)
end)

describe("core.retry_after", function()
  it("gives a bounded whole number of seconds, or nil", function()
    local now = os.time()
    assert.equal(120, core.retry_after(" 120 ", now))
    assert.equal(30, core.retry_after(os.date("!%a, %d %b %Y %H:%M:%S GMT", now + 30), now))
    assert.equal(0, core.retry_after(os.date("!%a, %d %b %Y %H:%M:%S GMT", now - 30), now))
    local year = core.retry_after(string.rep("9", 400), now)
    assert.equal(366 * 86400, year)
    if math.type then assert.equal("integer", math.type(year)) end
    for _, bad in ipairs({ "", "-1", "1.5", "soon", "12\0", string.rep("x", 1000) }) do
      assert.is_nil(core.retry_after(bad, now), bad)
    end
  end)
end)
