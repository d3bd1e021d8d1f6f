-- batchexport inside a real nginx with the Lua module (Debian's nginx-light +
-- libnginx-mod-http-lua, LuaJIT): the example configuration in
-- examples/openresty/ is started on a free port with ONE worker; a handler
-- creates an export on the mock and waits for it, and meanwhile a second
-- request to the same worker must be answered within milliseconds.
local socket = require("socket")
local mock = require("spec.support.mock")
local nginx = require("spec.support.nginx")

local function json_field(body, name)
  return body:match('"' .. name .. '":"?([^",}]*)')
end

describe("OpenResty (nginx + lua module, one worker)", function()
  local m, n, port

  -- Requests to the one nginx (spec/support/nginx.lua): send() now, finish()
  -- later; get() -> status, body, seconds.
  local function send(_, path) return n:send(path) end
  local function get(_, path) return n:get(path) end

  setup(function()
    m = mock.start()
    n = nginx.start(m, function(conf)
      -- A negative control for the spec only: a handler that does block the
      -- worker (a bare curl_multi_poll), to show the ping timing would see it.
      return (conf:gsub("(location = /ping {)", [[location = /blocking {
              content_by_lua_block { require("batchexport.scheduler").loop:poll(1) ngx.say("done") }
          }
          %1]]))
    end)
    port = n.port
  end)

  teardown(function()
    if n then n:stop() end
    if m then m:stop() end
  end)

  before_each(function() m:reset() end)

  it("loads the module and answers", function()
    local status, body = get(port, "/ping")
    assert.equal(200, status)
    assert.equal("pong\n", body)
    status, body = get(port, "/stats")
    assert.equal(200, status)
    assert.equal("0", json_field(body, "transfers"))
  end)

  it("waits for an export in a handler while the same worker answers another request within milliseconds", function()
    m:plan({ duration = 2 })
    -- Every status check is slow too: the worker is mid-transfer as often as mid-sleep.
    m:fault({ path = "/2.11/exports/view", delay = 0.3, times = 100 })
    local waiting = send(port, "/export?interval=0.2&max_interval=0.4")
    socket.sleep(0.1)   -- real time: the worker's responsiveness over time is the subject
    local worst, pings, times = 0, 0, {}
    while socket.gettime() - waiting.started < 1.8 do
      local status, body, took = get(port, "/ping")
      assert.equal(200, status)
      assert.equal("pong\n", body)
      worst = math.max(worst, took)
      pings = pings + 1
      times[pings] = took
      socket.sleep(0.03)
    end
    table.sort(times)
    local median = times[math.ceil(pings / 2)]
    local status, body, done_at = waiting.finish()
    assert.equal(200, status, body)
    assert.equal("SUCCESS", json_field(body, "status"))
    local waited = tonumber(json_field(body, "waited"))
    print(string.format("\n  nginx: export waited %.2f s in a handler; %d pings meanwhile, median %.1f ms, slowest %.1f ms",
      waited, pings, median * 1000, worst * 1000))
    assert.is_true(waited >= 2)
    assert.is_true(done_at - waiting.started >= 2)
    assert.is_true(pings >= 20)
    -- A worker blocked by a status check would hold a ping for up to 300 ms
    -- (each check is delayed that long); the bound leaves room for a busy machine.
    -- Like spec/fair_share_spec.lua's, these bounds are the subject (a worker
    -- that answers while it waits) and far looser than what it does: pings
    -- take about 1 ms here (printed above); nginx runs without the sanitizers.
    assert.is_true(median < 0.02, string.format("median ping %.1f ms", median * 1000))
    assert.is_true(worst < 0.15, string.format("a ping took %.1f ms", worst * 1000))
    local _, stats = get(port, "/stats")
    assert.equal("0", json_field(stats, "transfers"))
  end)

  it("closes a request's transfers at once when its client hangs up (abandon via ngx.on_abort)", function()
    m:plan({ duration = 60 })
    m:fault({ path = "/2.11/exports/view", stall = 10, times = 5 })
    local c = assert(socket.tcp())
    c:settimeout(5)
    assert(c:connect("127.0.0.1", port))
    assert(c:send("GET /export?interval=0.2 HTTP/1.0\r\nHost: localhost\r\n\r\n"))
    -- wait until the handler's status check is in flight (stalled by the mock)
    local deadline = socket.gettime() + 3
    local _, stats = get(port, "/stats")
    while json_field(stats, "transfers") ~= "1" and socket.gettime() < deadline do
      socket.sleep(0.02)
      _, stats = get(port, "/stats")
    end
    assert.equal("1", json_field(stats, "transfers"))
    c:close()
    -- well before the 10 s stall ends, nothing of that request is left
    deadline = socket.gettime() + 2
    repeat
      socket.sleep(0.05)
      _, stats = get(port, "/stats")
    until json_field(stats, "transfers") == "0" or socket.gettime() > deadline
    assert.equal("0", json_field(stats, "transfers"))
    assert.equal("0", json_field(stats, "tasks"))
  end)

  it("(control) sees a ping delayed when a handler does block the worker", function()
    local blocking = send(port, "/blocking")
    socket.sleep(0.1)
    local status, _, took = get(port, "/ping")
    assert.equal(200, status)
    assert.equal(200, (blocking.finish()))
    assert.is_true(took > 0.5, string.format("ping took %.1f ms", took * 1000))
  end)

  it("runs tasks in a handler; two such requests in one worker keep their tasks apart", function()
    for i = 1, 6 do m:plan({ duration = 0.3 + 0.1 * i }) end
    local a = send(port, "/tasks?n=3&interval=0.1&max_interval=0.2")
    local b = send(port, "/tasks?n=3&interval=0.1&max_interval=0.2")
    local _, _, ping = get(port, "/ping")
    local sa, ba = a.finish()
    local sb, bb = b.finish()
    assert.equal(200, sa, ba)
    assert.equal(200, sb, bb)
    assert.equal('{"results":["SUCCESS","SUCCESS","SUCCESS"]}\n', ba)
    assert.equal('{"results":["SUCCESS","SUCCESS","SUCCESS"]}\n', bb)
    -- Half what the control above sees of a held worker: room for the
    -- scheduler on a loaded machine, none for a handler that blocks.
    assert.is_true(ping < 0.25, string.format("ping took %.1f ms", ping * 1000))
    local _, stats = get(port, "/stats")
    assert.equal("0", json_field(stats, "transfers"))
  end)

  it("logs no error; resty.core loads from Debian's lua-resty-core", function()
    local log = n:error_log()
    for line in log:gmatch("[^\n]+") do
      if line:match("%[warn%]") then print("\n  nginx warned: " .. line:gsub("^.-%[warn%]", "")) end
      assert.is_nil(line:match("%[error%]") or line:match("%[alert%]") or line:match("%[emerg%]"), line)
    end
    assert.is_nil(log:match("failed to load the 'resty.core' module"))
  end)
end)
