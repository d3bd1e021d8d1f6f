-- bin/batchexport-mock itself: what start prints, that instances do not
-- collide, and that stop ends exactly its own nginx and cleans up.
local mock = require("spec.support.mock")

local function exists(path)
  local fh = io.open(path, "rb")
  if fh then fh:close() return true end
  return false
end

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

describe("batchexport-mock start/stop", function()
  it("prints shell-eval-able KEY=VALUE lines and nothing else", function()
    local out, code = run(mock.sh_quote(mock.bin) .. " start --seed 7 --history 5")
    assert.equal(0, code)
    local env = {}
    for line in out:gmatch("[^\n]+") do
      local k, v = line:match("^([A-Z_]+)=([^%s'\"]+)$")
      assert.truthy(k, "not a KEY=VALUE line: " .. line)
      env[k] = v
    end
    finally(function() run(mock.sh_quote(mock.bin) .. " stop --prefix " .. env.MOCK_PREFIX) end)
    assert.matches("^http://127%.0%.0%.1:%d+$", env.MOCK_API_URL)
    assert.matches("^http://127%.0%.0%.1:%d+$", env.MOCK_STORAGE_URL)
    assert.not_equal(env.MOCK_API_URL, env.MOCK_STORAGE_URL)
    assert.matches("^%d+$", env.MOCK_PID)
    assert.truthy(exists(env.MOCK_PREFIX .. "/conf/nginx.conf"))
    assert.is_nil(env.MOCK_CA_FILE)
    assert.matches("^project_", env.BATCH_PROJECT_KEY)
    assert.truthy(env.BATCH_REST_KEY)
    assert.truthy(env.BATCH_API_KEY)
    -- the same lines work through a shell's eval
    local echoed = run("eval \"$(" .. mock.sh_quote(mock.bin) .. " status --prefix " .. env.MOCK_PREFIX .. ")\"; echo $MOCK_STATUS")
    assert.equal("running\n", echoed)
  end)

  it("starts quickly and two instances get different ports", function()
    local t0 = mock.gettime()
    local a = mock.start({ history = 10 })
    local started = mock.gettime() - t0
    local b = mock.start({ history = 10 })
    finally(function() a:stop() b:stop() end)
    assert.not_equal(a.api_url, b.api_url)
    assert.not_equal(a.prefix, b.prefix)
    assert.truthy(started < 5, "start took " .. started .. " s")
    io.stderr:write(string.format("\n[mock] start took %.3f s\n", started))
  end)

  it("honours --port (storage on P+1) and credential overrides", function()
    -- find a free pair by asking the kernel, then hand it to --port
    local socket = require("socket")
    local port
    for _ = 1, 20 do
      local s = assert(socket.bind("127.0.0.1", 0))
      local _, p = s:getsockname()
      s:close()
      p = tonumber(p)
      local s2 = socket.bind("127.0.0.1", p + 1)
      if s2 then s2:close(); port = p; break end
    end
    local m = mock.start({ port = port, rest_key = "my-rest", project_key = "project_mine", api_key = "MYAPIKEY",
      history = 3 })
    finally(function() m:stop() end)
    assert.equal("http://127.0.0.1:" .. port, m.api_url)
    assert.equal("http://127.0.0.1:" .. (port + 1), m.storage_url)
    assert.equal("my-rest", m.rest_key)
    local status = m:v2("GET", "/exports/list?limit=1")
    assert.equal(200, status)
    local bad = mock.request({ url = m.api_url .. "/2.11/exports/list", headers = {
      authorization = "Bearer mock_rest_key_6f1d0c9a8b7e4d3c2b1a", ["x-batch-project"] = "project_mine" } })
    assert.equal(401, bad)
  end)

  it("stop ends exactly its instance, waits for it and removes the prefix", function()
    local a = mock.start({ history = 3 })
    local b = mock.start({ history = 3 })
    finally(function() b:stop() end)
    a:stop()
    assert.is_false(a:alive())
    if (os.getenv("MOCK_KEEP") or "") == "" then assert.is_false(exists(a.prefix .. "/conf/mock.json")) end
    assert.is_true(b:alive())
    assert.equal(200, (b:v2("GET", "/exports/list?limit=1")))
    local status = mock.request({ url = a.api_url .. "/_mock/info" })
    assert.is_nil(status)
  end)

  it("stop --keep leaves the prefix; status reports stopped", function()
    local a = mock.start({ history = 3 })
    a:stop(true)
    finally(function() os.execute("rm -rf " .. mock.sh_quote(a.prefix)) end)
    assert.truthy(exists(a.prefix .. "/conf/mock.json"))
    local out, code = run(mock.sh_quote(mock.bin) .. " status --prefix " .. a.prefix)
    assert.equal(3, code)
    assert.matches("MOCK_STATUS=stopped", out)
  end)

  it("stops by itself once the watched process is gone", function()
    local p = io.popen("sleep 30 >/dev/null 2>&1 & echo $!")
    local watched = tonumber(p:read("l"))
    p:close()
    local m = mock.start({ history = 3, watch_pid = watched })
    finally(function() m:stop() end)
    assert.is_true(m:alive())
    os.execute("kill " .. watched)
    local deadline = mock.gettime() + 6
    while m:alive() and mock.gettime() < deadline do mock.sleep(0.1) end
    assert.is_false(m:alive())
  end)

  it("rejects unknown options with usage", function()
    local out, code = run(mock.sh_quote(mock.bin) .. " start --bogus")
    assert.equal(2, code)
    assert.matches("unknown option %-%-bogus", out)
  end)
end)
