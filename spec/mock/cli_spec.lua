-- bin/batchexport-mock itself: what start prints, that instances do not
-- collide, and that stop ends exactly its own nginx and cleans up.
local mock = require("spec.support.mock")
local h = require("spec.support.helpers")

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
  it("prints shell-eval-able `export KEY=VALUE` lines and nothing else", function()
    local out, code = run(mock.sh_quote(mock.bin) .. " start --seed 7 --history 5")
    assert.equal(0, code)
    local env = {}
    for line in out:gmatch("[^\n]+") do
      local k, v = line:match("^export ([A-Z_]+)=([^%s'\"]+)$")
      assert.truthy(k, "not an export KEY=VALUE line: " .. line)
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
    assert.equal(env.MOCK_API_URL, env.BATCH_BASE_URL)   -- batchexport.from_env() and the command reach it
    -- the same lines work through a shell's eval
    local echoed = run("eval \"$(" .. mock.sh_quote(mock.bin) .. " status --prefix " .. env.MOCK_PREFIX .. ")\"; echo $MOCK_STATUS")
    assert.equal("running\n", echoed)
  end)

  -- How long a start takes is printed, not asserted (it is the machine's
  -- speed; bench/RESULTS.md): the behaviour is two live instances apart.
  it("starts two instances side by side on different ports", function()
    local t0 = mock.gettime()
    local a = mock.start({ history = 10 })
    local started = mock.gettime() - t0
    local b = mock.start({ history = 10 })
    finally(function() a:stop() b:stop() end)
    assert.not_equal(a.api_url, b.api_url)
    assert.not_equal(a.prefix, b.prefix)
    assert.is_true(a:alive() and b:alive())
    io.stderr:write(string.format("\n[mock] start took %.3f s\n", started))
  end)

  it("honours --port (storage on P+1) and credential overrides", function()
    -- find a free pair by asking the kernel, then hand it to --port
    local socket = require("socket")
    local port
    for _ = 1, 20 do
      local p = h.free_port()
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

  -- Both servers on one port would start (nginx takes two servers on one
  -- listen), and the API server would answer every storage request.
  it("refuses one port for the API and storage", function()
    local port = h.free_port()
    local out, code = run(mock.sh_quote(mock.bin) .. " start --port " .. port .. " --storage-port " .. port)
    assert.equal(2, code, out)
    assert.matches("must differ", out)
    assert.is_nil((mock.request({ url = "http://127.0.0.1:" .. port .. "/_mock/info" })))
  end)

  it("picks an API port apart from a given --storage-port; each server answers as itself", function()
    local port = h.free_port()
    local m = mock.start({ storage_port = port, history = 3 })
    finally(function() m:stop() end)
    assert.equal("http://127.0.0.1:" .. port, m.storage_url)
    assert.not_equal(m.api_url, m.storage_url)
    assert.equal(200, (mock.request({ url = m.api_url .. "/_mock/info" })))
    assert.equal(404, (mock.request({ url = m.storage_url .. "/_mock/info" })))
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
    finally(function() h.rmrf(a.prefix) end)
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
    -- real time: the mock's master notices its watched process is gone
    while m:alive() and mock.gettime() < deadline do mock.sleep(0.1) end
    assert.is_false(m:alive())
  end)

  it("rejects unknown options with usage", function()
    local out, code = run(mock.sh_quote(mock.bin) .. " start --bogus")
    assert.equal(2, code)
    assert.matches("unknown option %-%-bogus", out)
  end)

  -- Every instance this user starts is listed in a private folder (under
  -- XDG_RUNTIME_DIR, here a temporary one so the specs never see the
  -- instances of anyone else), so a bare `stop` finds the one that runs.
  describe("with nothing set", function()
    local runtime
    local bin = io.popen("readlink -f " .. mock.sh_quote(mock.bin)):read("*l")

    before_each(function()
      runtime = h.tmpdir()
    end)
    after_each(function() h.rmrf(runtime) end)

    -- bash with only this registry and no MOCK_* or BATCH_* variable set
    local function bash(script)
      return run("env -u MOCK_PREFIX -u MOCK_API_URL -u BATCH_REST_KEY -u BATCH_BASE_URL XDG_RUNTIME_DIR=" ..
        mock.sh_quote(runtime) .. " MOCK=" .. mock.sh_quote(bin) .. " bash -c " ..
        mock.sh_quote('cd "$XDG_RUNTIME_DIR"\n' .. script))
    end

    it("eval exports what start prints, so child processes see it", function()
      local out, code = bash([[
        eval "$("$MOCK" start --history 2)"
        bash -c 'echo "child: $MOCK_API_URL $BATCH_BASE_URL ${#BATCH_REST_KEY} ${#BATCH_PROJECT_KEY} ${#BATCH_API_KEY}"'
        "$MOCK" stop
      ]])
      assert.equal(0, code, out)
      local api, base, a, b, c = out:match("child: (%S+) (%S+) (%d+) (%d+) (%d+)")
      assert.matches("^http://127%.0%.0%.1:%d+$", api, 1, false)
      assert.equal(api, base)
      assert.truthy(tonumber(a) > 0 and tonumber(b) > 0 and tonumber(c) > 0, out)
    end)

    it("stop stops the one mock this user runs, and removes its prefix", function()
      local out, code = bash([[
        ( eval "$("$MOCK" start --history 2)"; echo "$MOCK_PID $MOCK_PREFIX" ) > started
        read -r pid prefix < started
        env -u MOCK_PREFIX "$MOCK" stop; echo "stop=$?"
        [ -d "$prefix" ] && echo "prefix kept" || echo "prefix gone"
        tr -d '\0' < /proc/$pid/stat 2>/dev/null | grep -qv ') Z ' && echo "still running" || echo "gone"
      ]])
      assert.equal(0, code, out)
      assert.matches("stop=0", out)
      assert.matches("prefix gone", out)
      assert.matches("\ngone", out)
    end)

    it("says which ones run when there are several, and stops none", function()
      local out, code = bash([[
        a=$("$MOCK" start --history 2 | sed -n "s/^export MOCK_PREFIX=//p")
        b=$("$MOCK" start --history 2 | sed -n "s/^export MOCK_PREFIX=//p")
        "$MOCK" stop; echo "stop=$?"
        "$MOCK" status --prefix "$a" >/dev/null && echo "a running"
        "$MOCK" status --prefix "$b" >/dev/null && echo "b running"
        "$MOCK" stop --prefix "$a"; "$MOCK" stop --prefix "$b"
        echo "a=$a b=$b"
      ]])
      assert.equal(0, code, out)
      assert.matches("stop=2", out)
      assert.matches("a running", out)
      assert.matches("b running", out)
      local a, b = out:match("a=(%S+) b=(%S+)")
      assert.truthy(out:find("--prefix " .. a, 1, true), out)
      assert.truthy(out:find("--prefix " .. b, 1, true), out)
    end)

    it("says so when none runs, and forgets instances that stopped by themselves", function()
      local out, code = bash([[
        prefix=$("$MOCK" start --history 2 | sed -n "s/^export MOCK_PREFIX=//p")
        kill -KILL -- "-$(cat "$prefix/logs/nginx.pid")"; sleep 0.3
        "$MOCK" stop; echo "stop=$?"
        rm -rf "$prefix"
      ]])
      assert.equal(0, code, out)
      assert.matches("no batchexport%-mock is running", out)
      assert.matches("stop=0", out)
    end)
  end)
end)
