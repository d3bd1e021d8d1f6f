-- Issue #10, item 1: keys go only to the API origin, and only in URLs the
-- client builds itself. A hostile download answer (v2 307, legacy 302) whose
-- Location holds the text "{api_key}" must not pull the legacy API key to
-- the storage host, nor any credential header. The foreign hosts are the
-- mock's storage port and a listener of this spec's own on 127.0.0.2; every
-- address stays on loopback.
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local m
local listener

-- A listener on another loopback address: records the head of every request
-- it gets (into a file) and answers 404. Runs as its own process, since the
-- client blocks this one; it stops by itself when the stop file appears or
-- after a minute.
local LISTENER = [[
local socket = require("socket")
local host, ready, log, stop = arg[1], arg[2], arg[3], arg[4]
local server = assert(socket.bind(host, 0))
server:settimeout(0.1)
local _, port = server:getsockname()
local f = assert(io.open(ready .. ".tmp", "w")); f:write(port, "\n"); f:close()
os.rename(ready .. ".tmp", ready)
local started = os.time()
while os.time() - started < 60 and not io.open(stop) do
  local c = server:accept()
  if c then
    c:settimeout(2)
    local lines = {}
    for _ = 1, 100 do
      local line = c:receive("*l")
      if not line or line == "" then break end
      lines[#lines + 1] = line
    end
    local out = assert(io.open(log, "a")); out:write(table.concat(lines, "\n"), "\n\n"); out:close()
    c:send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    c:close()
  end
end
server:close()
]]

local function start_listener(host)
  local dir = h.tmpdir()
  local script = dir .. "/listener.lua"
  local f = assert(io.open(script, "w"))
  f:write(LISTENER)
  f:close()
  local l = { dir = dir, ready = dir .. "/port", log = dir .. "/requests", stop = dir .. "/stop" }
  assert(os.execute(string.format("lua5.4 %s %s %s %s %s >/dev/null 2>&1 &", mock.sh_quote(script),
    host, mock.sh_quote(l.ready), mock.sh_quote(l.log), mock.sh_quote(l.stop))))
  for _ = 1, 200 do
    local p = io.open(l.ready)
    if p then
      l.port = tonumber(p:read("l"))
      p:close()
      break
    end
    require("socket").sleep(0.05)   -- real time: a process of its own is starting
  end
  assert(l.port, "the listener did not start")
  l.url = "http://" .. host .. ":" .. l.port
  return l
end

local function listener_requests(l)
  local f = io.open(l.log)
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local out = {}
  for head in text:gmatch("(.-)\n\n") do out[#out + 1] = head end
  return out
end

local function new_client() return client.new(m, client.QUICK, { max_attempts = 2 }) end

local function storage_requests() return m:requests("storage") end

-- Nothing secret arrived at the storage host: no credential header, and the
-- API key in neither the path nor the query.
local function assert_storage_got_no_secret(expected)
  local seen = storage_requests()
  assert.equal(expected, #seen, "storage requests")
  for _, r in ipairs(seen) do
    assert.is_false(r.authorization)
    assert.is_false(r.x_authorization)
    assert.is_false(r.x_batch_project)
    local where = (r.path or "") .. "?" .. (r.query or "")
    assert.is_nil(where:find(m.api_key, 1, true), "the API key reached storage: " .. where)
    assert.is_nil(where:find(mock.urlencode(m.api_key), 1, true))
  end
end

local function assert_listener_got_no_secret(expected)
  local heads = listener_requests(listener)
  assert.equal(expected, #heads, "requests at the foreign listener")
  for _, head in ipairs(heads) do
    local lower = head:lower()
    assert.is_nil(head:find(m.api_key, 1, true), "the API key reached the foreign host:\n" .. head)
    assert.is_nil(head:find(m.rest_key, 1, true))
    assert.is_nil(head:find(m.project_key, 1, true))
    assert.is_nil(lower:find("\nauthorization:", 1, true))
    assert.is_nil(lower:find("\nx%-authorization:"))
    assert.is_nil(lower:find("\nx%-batch%-project:"))
  end
end

local collect, tmpdir = h.collect, h.tmpdir

setup(function()
  m = mock.start({ workers = 1 })
  listener = start_listener("127.0.0.2")
end)
teardown(function()
  if listener then
    io.open(listener.stop, "w"):close()
    os.execute("sleep 0.3; rm -rf " .. mock.sh_quote(listener.dir))
  end
  if m then m:stop() end
end)
before_each(function()
  m:reset()
  os.remove(listener.log)
end)

-- The Location values a hostile server answers with: "{api_key}" as text,
-- raw or percent-encoded, in the path and in the query.
local function hostile_locations(base, file_id)
  return {
    base .. "/exports/" .. file_id .. "/{api_key}/part.ndjson",
    base .. "/exports/" .. file_id .. "/part.ndjson?key={api_key}",
    base .. "/exports/" .. file_id .. "/%7Bapi_key%7D/part.ndjson",
    base .. "/1.0/{api_key}/export/x.csv",
  }
end

describe("v2: a storage Location holding {api_key}", function()
  it("sends neither the API key nor a credential header to the storage host", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1 })
    local locations = hostile_locations(m.storage_url, e.files[1].id)
    for _, loc in ipairs(locations) do
      m:fault({ path = "/2.11/exports/download", status = 307, headers = { Location = loc } })
      local ok = pcall(collect, c.exports.records(e))
      assert.is_false(ok)          -- storage has no such file
    end
    assert_storage_got_no_secret(#locations)
  end)

  it("sends nothing secret to another loopback host (download and records)", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1 })
    local loc = listener.url .. "/{api_key}/x?k={api_key}"
    m:fault({ path = "/2.11/exports/download", status = 307, headers = { Location = loc }, times = 2 })
    local dir = tmpdir()
    local paths, err = c.exports.download(e, { dir = dir })
    assert.is_nil(paths)
    assert.is_not_nil(err)
    assert.is_false(pcall(collect, c.exports.records(e)))
    h.rmrf(dir)
    assert_listener_got_no_secret(2)
  end)
end)

describe("v2: any Location is parsed before anything is fetched", function()
  it("refuses user-info, other schemes and unparsable links, sending nothing", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1 })
    for _, loc in ipairs({
      listener.url:gsub("//", "//user:pw@") .. "/x",
      "ftp://127.0.0.2/x",
      "file:///etc/passwd",
      "http://[::1/x",
      "http://127.0.0.2:0/x",
    }) do
      m:fault({ path = "/2.11/exports/download", status = 307, headers = { Location = loc } })
      local ok, err = pcall(collect, c.exports.records(e))
      assert.is_false(ok, loc)
      assert.equal("decode", err.kind, loc)
      assert.matches("Location", err.message)
    end
    assert_listener_got_no_secret(0)
    assert_storage_got_no_secret(0)
  end)

  it("resolves a relative Location against the API URL and fetches it with no credential", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1 })
    m:fault({ path = "/2.11/exports/download", status = 307, headers = { Location = "/elsewhere/{api_key}?x=1" } })
    assert.is_false(pcall(collect, c.exports.records(e)))     -- the API has no such route
    local hits = {}
    for _, r in ipairs(m:log().requests) do
      if r.path:find("/elsewhere/", 1, true) then hits[#hits + 1] = r end
    end
    assert.equal(1, #hits)
    assert.equal("api", hits[1].host)
    assert.is_false(hits[1].authorization)
    assert.is_false(hits[1].x_batch_project)
    assert.is_nil(hits[1].path:find(m.api_key, 1, true))
  end)
end)

describe("legacy: a storage Location holding {api_key}", function()
  local function result_prefix(r)
    return "/1.0/" .. m.api_key .. "/export/request/" .. r.id .. "/results"
  end

  it("sends neither the API key nor a credential header to the storage host", function()
    local c = new_client()
    local r = m:create_legacy({ kind = "userbase", status = "SUCCESS" })
    local locations = hostile_locations(m.storage_url, "lfile_" .. r.id)
    for _, loc in ipairs(locations) do
      m:fault({ path = result_prefix(r), status = 302, headers = { Location = loc } })
      assert.is_false(pcall(collect, c.legacy.rows(r)))
    end
    assert_storage_got_no_secret(#locations)
  end)

  it("sends nothing secret to another loopback host (rows and download)", function()
    local c = new_client()
    local r = m:create_legacy({ kind = "userbase", status = "SUCCESS" })
    m:fault({ path = result_prefix(r), status = 302, times = 2,
      headers = { Location = listener.url .. "/1.0/{api_key}/export/x.csv?{api_key}" } })
    assert.is_false(pcall(collect, c.legacy.rows(r)))
    local dir = tmpdir()
    local path = c.legacy.download(r, { path = dir .. "/x.csv" })
    assert.is_nil(path)
    h.rmrf(dir)
    assert_listener_got_no_secret(2)
  end)

  it("puts the key only at the key segment of a same-origin file_url, never where the text says", function()
    local c = new_client()
    local r = m:create_legacy({ kind = "userbase", status = "SUCCESS" })
    local s = { id = r.id, status = "SUCCESS",
      file_url = m.api_url .. "/1.0/***/export/request/" .. r.id .. "/results/{api_key}.csv?k={api_key}" }
    assert.is_false(pcall(collect, c.legacy.rows(s)))       -- the mock knows no such file
    local api = {}
    for _, q in ipairs(m:log().requests) do
      if q.host == "api" and q.path:find("/results/", 1, true) then api[#api + 1] = q end
    end
    assert.equal(1, #api)
    local where = api[1].path .. "?" .. (api[1].query or "")
    local _, count = where:gsub(m.api_key:gsub("%p", "%%%0"), "")
    assert.equal(1, count, where)
    assert.truthy(api[1].path:find("/1.0/" .. m.api_key .. "/export/", 1, true))
    -- and the real file_url still works
    assert.equal(50, #collect(c.legacy.rows(r)))
  end)
end)

describe("the C core attaches credentials only on base_url's origin", function()
  it("refuses a request with credentials to another origin, before sending it", function()
    local c = new_client()
    for _, spec in ipairs({
      { url = listener.url .. "/2.11/exports/list", auth = "v2" },
      { url = listener.url .. "/1.0/x/export/request/1", auth = "legacy" },
      { url = m.storage_url .. "/2.11/exports/list", auth = "v2" },
      { url = m.api_url:gsub("127%.0%.0%.1", "localhost") .. "/2.11/exports/list", auth = "v2" },
      { url = "https" .. m.api_url:sub(5) .. "/2.11/exports/list", auth = "v2" },
    }) do
      local ok, why = pcall(c.core.request, c.core, spec)
      assert.is_false(ok, spec.url)
      assert.matches("origin", tostring(why))
    end
    assert_listener_got_no_secret(0)
    assert_storage_got_no_secret(0)
  end)

  it("never treats a URL as a template: {api_key} in a URL is sent as it is", function()
    local c = new_client()
    local t = c.core:request({ url = listener.url .. "/{api_key}/x", auth = "none" })
    require("batchexport.scheduler").await(t)
    t:close()
    local heads = listener_requests(listener)
    assert.equal(1, #heads)
    assert.truthy(heads[1]:find("{api_key}", 1, true) or heads[1]:find("%7Bapi_key%7D", 1, true))
    assert_listener_got_no_secret(1)
  end)
end)
