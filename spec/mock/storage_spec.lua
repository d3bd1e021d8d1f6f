-- The storage origin: Range/206, signed and expiring links, big parts, and
-- HTTPS with the CA the mock generates.
local mock = require("spec.support.mock")
local cjson = require("cjson")

local m

setup(function() m = mock.start({ history = 20 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

local function link(file_id)
  local status, headers = m:v2("GET", "/exports/download?id=" .. file_id)
  assert.equal(307, status)
  return headers.location
end

describe("storage", function()
  it("honours Range with 206 so a client can resume", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 10000 })
    local url = link(e.files[1].id)
    local _, _, whole = mock.request({ url = url })
    local status, h, part = mock.request({ url = url, headers = { range = "bytes=100-199" } })
    assert.equal(206, status)
    assert.equal("bytes 100-199/10000", h["content-range"])
    assert.equal(whole:sub(101, 200), part)
    status, h, part = mock.request({ url = url, headers = { range = "bytes=9990-" } })
    assert.equal(206, status)
    assert.equal(whole:sub(9991), part)
    status = mock.request({ url = url, headers = { range = "bytes=20000-" } })
    assert.equal(416, status)
  end)

  it("refuses an expired link with 403 and a fresh download call works again", function()
    m:config({ link_ttl = 60 })
    local e = m:create_export({ status = "SUCCESS", part_size = 2000 })
    local url = link(e.files[1].id)
    assert.equal(200, (mock.request({ url = url })))
    m:advance(61)
    local status, h, body = mock.request({ url = url })
    assert.equal(403, status)
    assert.matches("xml", h["content-type"])
    assert.matches("expired", body)
    assert.equal(200, (mock.request({ url = link(e.files[1].id) })))
  end)

  it("refuses a tampered or decoded signature", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 2000 })
    local url = link(e.files[1].id)
    assert.matches("Signature=[^&]*%%", url) -- the base64 signature is percent-encoded
    local tampered = url:gsub("Expires=(%d+)", function(n) return "Expires=" .. (tonumber(n) + 1) end)
    assert.equal(403, (mock.request({ url = tampered })))
    -- a client that decodes the Location and re-sends '+' raw turns it into a space
    local decoded = url:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    if decoded:find("+", 1, true) then assert.equal(403, (mock.request({ url = decoded }))) end
    local status, _, body = mock.request({ url = m.storage_url .. "/exports/" .. e.files[1].id .. "/x.ndjson" })
    assert.equal(404, status)
    assert.matches("NoSuchKey", body)
  end)

  it("gives a file's sha256 and size through the control API, matching the bytes served", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 50000, gzip = true })
    local sha, size = m:file_sha256(e.files[1].id)
    local out = mock.curl("-o - " .. mock.sh_quote(link(e.files[1].id)) .. " | sha256sum")
    assert.equal(sha, out:match("^(%x+)"))
    assert.equal(e.files[1].size, size)
    local info = m:file(e.files[1].id)
    assert.equal(50000, info.part_size)
    assert.truthy(info.records > 10)
  end)

  it("generates the same bytes for the same seed, request, plan and creation time", function()
    local req = { export_type = "ATTRIBUTES", attributes = { "$region", "nickname" }, identifiers = { "custom_id" } }
    local when = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(m:now()) - 3600)
    local spec = { status = "SUCCESS", part_size = 20000, request = req, request_date = when }
    local a = m:create_export(spec)
    local sha_a = m:file_sha256(a.files[1].id)
    m:reset()
    local b = m:create_export(spec)
    assert.not_equal(a.files[1].id, b.files[1].id)
    assert.equal(sha_a, (m:file_sha256(b.files[1].id)))
    -- another instance with its own data dir writes the file anew: same bytes
    local same = mock.start({ seed = 1, history = 0, legacy_history = 0 })
    local other = mock.start({ seed = 2, history = 0, legacy_history = 0 })
    finally(function() same:stop() other:stop() end)
    assert.equal(sha_a, (same:file_sha256(same:create_export(spec).files[1].id)))
    assert.not_equal(sha_a, (other:file_sha256(other:create_export(spec).files[1].id)))
  end)

  it("serves a part beyond 100 MB from disk with the exact advertised size", function()
    local size = 100 * 1024 * 1024 + 4097
    local t0 = mock.gettime()
    local e = m:create_export({ status = "SUCCESS", part_size = size, scope = "PROFILE_EVENTS" })
    local generated = mock.gettime() - t0
    assert.equal(size, e.files[1].size)
    local sha = m:file_sha256(e.files[1].id)
    local url = link(e.files[1].id)
    local out = mock.curl("-o /dev/null -w '%{size_download} %{time_total} %{speed_download}' " .. mock.sh_quote(url))
    local got, secs, speed = out:match("^(%d+) ([%d.]+) ([%d.]+)")
    assert.equal(size, tonumber(got))
    io.stderr:write(string.format("\n[mock] 100 MB part: generated in %.2f s, served in %.3f s (%.0f MB/s)\n",
      generated, tonumber(secs), tonumber(speed) / 1e6))
    local hashed = mock.curl(mock.sh_quote(url) .. " | sha256sum")
    assert.equal(sha, hashed:match("^(%x+)"))
    -- the API kept answering while that part was written and served
    local status = m:v2("GET", "/exports/list?limit=1")
    assert.equal(200, status)
  end)

  it("does not stall other requests while a big part is generated", function()
    m:config({ speed = 1000 })
    m:plan({ part_size = 60 * 1024 * 1024 })
    local status, _, body = m:v2("POST", "/profiles/export", { export_type = "ATTRIBUTES", identifiers = { "custom_id" } })
    assert.equal(202, status)
    local id = cjson.decode(body).id
    local worst = 0
    local done = false
    local deadline = mock.gettime() + 20
    while not done and mock.gettime() < deadline do
      local t = mock.gettime()
      local _, _, vb = m:v2("GET", "/exports/view?id=" .. id)
      worst = math.max(worst, mock.gettime() - t)
      done = cjson.decode(vb).status == "SUCCESS"
    end
    assert.is_true(done)
    io.stderr:write(string.format("[mock] slowest view during a 60 MB generation: %.3f s\n", worst))
  end)
end)

describe("storage over TLS", function()
  local tm
  setup(function() tm = mock.start({ tls = true, history = 5 }) end)
  teardown(function() if tm then tm:stop() end end)

  it("serves both origins over HTTPS with a certificate from the generated CA", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", tm.api_url)
    assert.matches("^https://127%.0%.0%.1:%d+$", tm.storage_url)
    assert.truthy(io.open(tm.ca_file, "rb"))
    local e = tm:create_export({ status = "SUCCESS", part_size = 3000 })
    local status, headers = tm:v2("GET", "/exports/download?id=" .. e.files[1].id)
    assert.equal(307, status)
    assert.matches("^https://", headers.location)
    local s2, _, body = mock.request({ url = headers.location, cafile = tm.ca_file })
    assert.equal(200, s2)
    assert.equal(3000, #body)
    -- curl with verification on: works with the CA, fails without it
    local out, code = mock.curl("--cacert " .. mock.sh_quote(tm.ca_file) .. " -o /dev/null -w '%{http_code}' "
      .. mock.sh_quote(headers.location))
    assert.equal(0, code)
    assert.equal("200", out)
    local _, code2 = mock.curl("-o /dev/null " .. mock.sh_quote(tm.api_url .. "/_mock/info"))
    assert.equal(60, code2) -- peer certificate cannot be authenticated
    local localhost = tm.api_url:gsub("127%.0%.0%.1", "localhost")
    local _, code3 = mock.curl("--cacert " .. mock.sh_quote(tm.ca_file) .. " -o /dev/null " .. mock.sh_quote(localhost .. "/_mock/info"))
    assert.equal(0, code3)
  end)

  it("uses an EC key", function()
    local p = io.popen("openssl x509 -in " .. mock.sh_quote(tm.ca_file) .. " -noout -text")
    local text = p:read("a")
    p:close()
    assert.matches("id%-ecPublicKey", text)
  end)
end)
