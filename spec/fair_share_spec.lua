-- Fair share (issue 16): streaming never holds the host's event loop.
-- A task that streams a large export on a fast link hands control back after
-- each slice of decoding, so a frame loop calling batchexport.step(0) keeps
-- its frame; in a one-worker nginx, a handler streaming records or saving a
-- download lets the same worker answer /ping meanwhile. The bounds are loose
-- (a loaded machine, ASan) yet far below what a loop held for the whole
-- stream shows: hundreds of milliseconds.
local batchexport = require("batchexport")
local core = require("batchexport.core")
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local nginx = require("spec.support.nginx")
local h = require("spec.support.helpers")
local socket = require("socket")

local SIZE = 40 * 1024 * 1024
-- The bounds, against bench/RESULTS.md ("Fair share", a loaded machine):
-- LONGEST_STEP is 12 times the 4 ms target and 8 times the longest step
-- measured (6 ms); WORST_PING is 8 times under the 844 ms of a worker held
-- for the whole stream, but only twice the worst ping measured (48 ms, a
-- download on a loaded machine): the tightest of them, kept as issue 16 set it.
local LONGEST_STEP = 0.05     -- seconds one step(0) may take while a task streams
local WORST_PING = 0.1        -- seconds a /ping may wait while a handler streams
-- A machine's scheduler may set this process (or nginx's worker) aside for
-- tens of milliseconds at any moment, most on a shared 2-core VM under ASan;
-- that is no step holding the loop. So a step's work is bounded by the CPU it
-- used (a step that decodes the whole stream uses hundreds of ms of it), and
-- its wall time and a ping's may be late once: a step that blocks, or a
-- worker held for stretches, is late every time.
local MAX_STEP_WRITE = 2 * 1024 * 1024  -- bytes a download may write in one step(0)

local sha256_of = h.sha256

-- A sink for bytes whose sha256 is known once closed.
local function hasher()
  local out = os.tmpname()
  local pipe = assert(io.popen("sha256sum > " .. mock.sh_quote(out), "w"))
  return {
    write = function(_, s) pipe:write(s) end,
    sum = function()
      pipe:close()
      local f = assert(io.open(out))
      local line = f:read("a")
      f:close()
      os.remove(out)
      return line:match("^(%x+)")
    end,
  }
end

describe("fair share", function()
  local m, e, file

  setup(function()
    m = mock.start()
    e = m:create_export({ status = "SUCCESS", parts = 1, part_size = SIZE })
    file = m:file(e.files[1].id)
  end)

  teardown(function() if m then m:stop() end end)

  local function new_client(extra) return client.new(m, extra) end

  -- The CPU seconds the calling thread (the host's) used so far: a step's
  -- work is the host's thread's. os.clock() counts the whole process, and
  -- with it the streams' own threads (csrc/pump.c), receiving meanwhile on
  -- the other core: two streams' can pass a step's bound without the host's
  -- thread doing anything. Linux's per-thread run time, else os.clock().
  local function thread_cpu()
    local f = io.open("/proc/thread-self/schedstat")
    local ns = f and f:read("*n")
    if f then f:close() end
    return ns and ns / 1e9 or os.clock()
  end

  -- Times of steps: each one's wall and CPU seconds.
  local function step_times()
    local walls, cpu = {}, 0
    local times = {}
    -- Runs step(timeout); returns what it returned.
    function times.step(timeout)
      local w0, c0 = core.now(), thread_cpu()
      local left = batchexport.step(timeout)
      walls[#walls + 1] = core.now() - w0 - (timeout or 0)
      cpu = math.max(cpu, thread_cpu() - c0)
      return left
    end
    -- The longest wall time (for the report) and the number of steps.
    function times.longest()
      local longest = 0
      for _, w in ipairs(walls) do longest = math.max(longest, w) end
      return longest, #walls
    end
    -- Every step used less than LONGEST_STEP of CPU, and took less than it
    -- on the wall clock, but once.
    function times.check()
      table.sort(walls)
      local second = walls[#walls - 1] or 0
      assert.is_true(cpu < LONGEST_STEP, string.format("a step used %.1f ms of CPU", cpu * 1000))
      assert.is_true(second < LONGEST_STEP, string.format("two steps took %.1f ms or more", second * 1000))
    end
    return times
  end

  -- Steps the scheduler with step(0) until no task is left, as a frame loop
  -- does; returns the steps' times.
  local function frame_loop()
    local times = step_times()
    while true do
      if times.step(0) == 0 then return times end
    end
  end

  describe("a plain Lua host calling step(0)", function()
    -- PUC Lua 5.1 cannot yield from a for loop's iterator or a pcall, so a
    -- task there blocks the host while it streams (README, "Supported Lua
    -- versions"): these are shown as pending there, not run.
    local in_task = (_VERSION == "Lua 5.1" and not rawget(_G, "jit")) and function(name)
      pending("PUC Lua 5.1 cannot yield from a for loop: " .. name)
    end or it
    in_task("keeps its frame while a task streams every record", function()
      local c = new_client()
      local task = batchexport.spawn(function()
        local n = 0
        for _ in c.exports.records(e.id) do n = n + 1 end
        return n
      end)
      local times = frame_loop()
      local ok, n = task:result()
      assert.is_true(ok, tostring(n))
      assert.equal(file.records, n)
      local longest, steps = times.longest()
      print(string.format("\n  records in a task: %d steps, longest step(0) %.1f ms", steps, longest * 1000))
      times.check()
    end)

    in_task("keeps its frame while a task takes values without tables", function()
      local c = new_client()
      local task = batchexport.spawn(function()
        local n, last = 0, nil
        for i in c.exports.values(e.id, { "custom_id" }) do
          n, last = n + 1, i
          assert(i == n, "record number " .. i .. " at " .. n)
        end
        return n, last
      end)
      local times = frame_loop()
      local ok, n, last = task:result()
      assert.is_true(ok, tostring(n))
      assert.equal(file.records, n)
      assert.equal(file.records, last)
      times.check()
    end)

    in_task("keeps its frame while tasks read the bytes and the lines, which come out whole", function()
      local c = new_client()
      local bytes = batchexport.spawn(function()
        local reader = assert(c.exports.open(e.files[1].id))
        local sink = hasher()
        while true do
          local chunk, err = reader:read(65536)
          if chunk == nil then
            if err then error(err, 0) end
            break
          end
          sink:write(chunk)
        end
        return sink:sum()
      end)
      local lines = batchexport.spawn(function()
        local reader = assert(c.exports.open(e.files[1].id))
        local n = 0
        for _ in reader:lines() do n = n + 1 end
        return n
      end)
      local times = frame_loop()
      local ok, sum = bytes:result()
      assert.is_true(ok, tostring(sum))
      assert.equal(file.sha256, sum)
      local ok2, n = lines:result()
      assert.is_true(ok2, tostring(n))
      assert.equal(file.records, n)
      times.check()
    end)

    in_task("gives step(timeout) back within its timeout plus a slice with several tasks streaming", function()
      local c = new_client({ slice = 0.002 })
      local tasks = {}
      for i = 1, 3 do
        tasks[i] = batchexport.spawn(function()
          local n = 0
          for _ in c.exports.records(e.id, { fields = { "custom_id" } }) do n = n + 1 end
          return n
        end)
      end
      local times = step_times()
      while true do
        if times.step(0.001) == 0 then break end
      end
      for _, task in ipairs(tasks) do
        local ok, n = task:result()
        assert.is_true(ok, tostring(n))
        assert.equal(file.records, n)
      end
      times.check()
    end)

    in_task("keeps its frame while a task saves a download, which comes out whole, no temporary file left", function()
      local c = new_client()
      local dir = h.tmpdir()
      local task = batchexport.spawn(function()
        local paths, err = c.exports.download(e.id, { dir = dir })
        if not paths then error(err, 0) end
        return paths
      end)
      -- Between steps, the size of the temporary file (or the final one), or
      -- nil when it was renamed between the listing and the open.
      local function on_disk()
        local ls = io.popen("ls -A " .. mock.sh_quote(dir))
        local name = ls:read("l")
        ls:close()
        if not name then return 0 end
        local f = io.open(dir .. "/" .. name, "rb")
        if not f then return nil end   -- renamed meanwhile: size unknown
        local size = f:seek("end")
        f:close()
        return size
      end
      local times, last, burst = step_times(), 0, 0
      while true do
        local left = times.step(0)
        local size = on_disk()
        if size then burst, last = math.max(burst, size - last), size end
        if left == 0 then break end
      end
      local ok, paths = task:result()
      assert.is_true(ok, tostring(paths))
      assert.same({ dir .. "/" .. e.id .. "-1.json" }, paths)
      assert.equal(file.sha256, sha256_of(paths[1]))
      local ls = io.popen("ls -A " .. mock.sh_quote(dir))
      assert.equal(e.id .. "-1.json\n", ls:read("a"))
      ls:close()
      h.rmrf(dir)
      print(string.format("\n  download in a task: longest step(0) %.1f ms, at most %.0f KiB written between two",
        times.longest() * 1000, burst / 1024))
      -- What one step may write is bounded (512 KiB a perform), whatever the
      -- disk's speed: a whole fast socket's worth was megabytes.
      assert.is_true(burst <= MAX_STEP_WRITE, string.format("%.0f KiB written in one step", burst / 1024))
      times.check()
    end)

    it("outside a task, a loop is one stretch of work: no pause, every record", function()
      local c = new_client()
      local n = 0
      for _ in c.exports.records(e.id, { fields = { "custom_id" } }) do n = n + 1 end
      assert.equal(file.records, n)
    end)

    it("checks the slice option", function()
      for _, bad in ipairs({ -1, 2, 0 / 0, "2ms" }) do
        local c, err = batchexport.new({ rest_key = m.rest_key, project_key = m.project_key,
          base_url = m.api_url, slice = bad })
        assert.is_nil(c)
        assert.equal("config", err.kind)
        assert.matches("slice", err.message)
      end
      assert.truthy(batchexport.new({ base_url = m.api_url, slice = 0 }))
    end)
  end)

  describe("a one-worker nginx", function()
    local n, dir

    setup(function()
      -- A phase that cannot yield: a call there is a config error, at once.
      n = nginx.start(m, function(conf)
        return (conf:gsub("(location = /ping {)", [[location = /set_phase {
            set_by_lua_block $outcome {
                local c = require("batchexport").new({ base_url = os.getenv("MOCK_API_URL"),
                  rest_key = os.getenv("BATCH_REST_KEY"), project_key = os.getenv("BATCH_PROJECT_KEY") })
                local export, err = c.exports.view("]] .. e.id .. [[")
                local raised, why = pcall(function() for _ in c.exports.records("]] .. e.id .. [[") do end end)
                return (export and "waited" or err.kind .. ": " .. err.message) .. "\n"
                  .. (raised and "streamed" or why.kind .. ": " .. why.message)
            }
            return 200 "$outcome\n";
        }
        %1]]))
      end)
      dir = h.tmpdir()
    end)

    teardown(function()
      if n then n:stop() end
      h.rmrf(dir)
    end)

    -- Pings the worker every 2 ms while `pending` runs; returns the pings'
    -- times, sorted.
    local function ping_while(pending)
      local times = {}
      while not pending.ready() do
        local status, body, took = n:get("/ping")
        assert.equal(200, status)
        assert.equal("pong\n", body)
        times[#times + 1] = took
        socket.sleep(0.002)
      end
      table.sort(times)
      return times
    end

    -- Every ping but one (the scheduler's) answered within WORST_PING.
    local function late_once(times)
      local second = times[#times - 1]
      assert.is_true(second < WORST_PING, string.format("two pings took %.1f ms or more", second * 1000))
    end

    local function report(what, times, seconds)
      print(string.format("\n  nginx %s: %.2f s, %d pings, p99 %.1f ms, worst %.1f ms", what, seconds, #times,
        times[math.max(1, math.ceil(#times * 0.99))] * 1000, times[#times] * 1000))
    end

    it("answers /ping while a handler streams every record", function()
      local pending = n:send("/records?id=" .. e.id)
      local times = ping_while(pending)
      local status, body, at = pending.finish()
      assert.equal(200, status, body)
      assert.equal(file.records, tonumber(body:match('"records":(%d+)')))
      report("/records", times, at - pending.started)
      assert.is_true(#times >= 5, "only " .. #times .. " pings answered meanwhile")
      late_once(times)
    end)

    it("answers /ping while a handler saves a download, which comes out whole", function()
      local pending = n:send("/download?id=" .. e.id .. "&dir=" .. dir)
      local times = ping_while(pending)
      local status, body, at = pending.finish()
      assert.equal(200, status, body)
      local path = dir .. "/" .. e.id .. "-1.json"
      assert.equal(file.sha256, sha256_of(path))
      local ls = io.popen("ls -A " .. mock.sh_quote(dir))
      assert.equal(e.id .. "-1.json\n", ls:read("a"))   -- no temporary file left
      ls:close()
      report("/download", times, at - pending.started)
      assert.is_true(#times >= 5, "only " .. #times .. " pings answered meanwhile")
      late_once(times)
    end)

    it("says a call in a phase that cannot yield is a config error, rather than block the worker", function()
      m:clear_log()
      local status, body = n:get("/set_phase")
      assert.equal(200, status)
      local view, records = body:match("^(.-)\n(.-)\n$")
      assert.matches("^config: cannot wait in nginx's set phase", view)
      assert.matches("^config: cannot wait in nginx's set phase", records)
      assert.equal(0, #m:log().requests)   -- nothing was sent
    end)

    it("logs no error", function()
      assert.is_nil(n:error_log():find("%[error%]"), n:error_log())
    end)
  end)
end)
