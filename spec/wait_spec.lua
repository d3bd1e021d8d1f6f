-- Waiting without blocking: exports.wait_for and legacy waits on the mock,
-- the poll cadence, and the scheduler (spawn/step/run, cancel, errors kept on
-- their tasks, step(0) promptness, a frame loop that keeps its rate).
local batchexport = require("batchexport")
local core = require("batchexport.core")
local scheduler = require("batchexport.scheduler")
local wait = require("batchexport.wait")
local mock = require("spec.support.mock")
local client = require("spec.support.client")

local m
local logs

local ATTRS = { export_type = "ATTRIBUTES", attributes = { "$email_address" }, identifiers = { "custom_id" } }

local function new_client(extra)
  return client.new(m, client.QUICK, { logger = function(level, line) logs[#logs + 1] = level .. " " .. line end }, extra)
end

local function views(id)
  local n = 0
  for _, r in ipairs(m:log().requests) do
    if r.host == "api" and r.path:find("/exports/view", 1, true) and (not id or r.query:find(id, 1, true)) then
      n = n + 1
    end
  end
  return n
end

-- Steps the scheduler until cond() holds (or fails the test after `limit` s).
local function step_until(cond, limit)
  local deadline = core.now() + (limit or 10)
  while not cond() do
    assert(core.now() < deadline, "condition not reached in time")
    batchexport.step(0.01)
  end
end

local FAST = { interval = 0.05, max_interval = 0.2 }

setup(function() m = mock.start() end)
teardown(function() if m then m:stop() end end)
before_each(function()
  m:reset()
  logs = {}
end)
after_each(function()
  for _, t in ipairs(scheduler.tasks()) do t:cancel() end
  assert.equal(0, scheduler.loop:count())
end)

describe("wait_for options", function()
  it("rejects unknown and invalid options before any request", function()
    local c = new_client()
    local e, err = c.exports.wait_for("export_x", { timout = 5, interval = 0, jitter = 1 })
    assert.is_nil(e)
    assert.equal("validation", err.kind)
    assert.matches('unknown option "timout"', err.message)
    assert.matches("interval: must be", err.message)
    assert.matches("jitter: must be", err.message)
    assert.equal(0, views())
  end)

  it("rejects a max_interval below interval, and raises the default cap with a long interval", function()
    local _, err = wait.options({ interval = 10, max_interval = 5 })
    assert.equal("validation", err.kind)
    local o = assert(wait.options({ interval = 120 }))
    assert.equal(120, o.max_interval)
    assert.is_nil(assert(wait.options({ timeout = false })).timeout)
  end)
end)

describe("exports.wait_for", function()
  it("returns the export once SUCCESS", function()
    local c = new_client()
    m:plan({ duration = 1 })
    local id = assert(c.exports.create(ATTRS))
    local e, err = c.exports.wait_for(id, FAST)
    assert.is_nil(err)
    assert.equal("SUCCESS", e.status)
    assert.equal(id, e.id)
    assert.is_true(views(id) >= 2)
  end)

  it("returns export_failed with the export attached once ERROR", function()
    local c = new_client()
    m:plan({ duration = 0.5, outcome = "ERROR" })
    local id = assert(c.exports.create(ATTRS))
    local e, err = c.exports.wait_for(id, FAST)
    assert.is_nil(e)
    assert.equal("export_failed", err.kind)
    assert.is_false(err.retryable)
    assert.equal(id, err.export.id)
    assert.equal("ERROR", err.export.status)
    assert.matches(id, tostring(err), 1, true)
  end)

  it("returns a timeout error at the timeout, and no transfer is left behind", function()
    local c = new_client()
    m:plan({ duration = 3600 })
    local id = assert(c.exports.create(ATTRS))
    local t0 = core.now()
    local e, err = c.exports.wait_for(id, { timeout = 0.6, interval = 0.1, max_interval = 0.2 })
    local took = core.now() - t0
    assert.is_nil(e)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.is_true(err.attempts >= 2)
    assert.equal(id, err.export.id)
    assert.matches("still ", err.message)
    -- It waited the whole timeout (a wait the code itself performs), and
    -- polled no faster than its interval: at most one check per 0.1 s.
    -- (How soon after the timeout it returns is not asserted: that is the
    -- machine's speed, not the behaviour.)
    assert.is_true(took >= 0.6, "took " .. took)
    assert.is_true(views(id) <= 7, views(id) .. " status checks")
    assert.equal(0, scheduler.loop:count())
  end)

  it("closes a status check still in flight at the timeout", function()
    local c = new_client()
    local id = m:create_export({ status = "RUNNING" }).id
    m:fault({ path = "/2.11/exports/view", delay = 3 })
    local t0 = core.now()
    local e, err = c.exports.wait_for(id, { timeout = 0.3, interval = 0.1 })
    assert.is_nil(e)
    assert.equal("timeout", err.kind)
    -- Returned before the delayed answer (3 s) could arrive: the check in
    -- flight was closed, not awaited.
    assert.is_true(core.now() - t0 < 3)
    assert.equal(0, scheduler.loop:count())
  end)

  it("keeps waiting through transient errors, logging them", function()
    local c = new_client({ max_attempts = 1 })
    m:plan({ duration = 1 })
    local id = assert(c.exports.create(ATTRS))
    m:fault({ path = "/2.11/exports/view", status = 503, times = 2 })
    m:fault({ path = "/2.11/exports/view", status = 500, times = 1 })
    local e, err = c.exports.wait_for(id, FAST)
    assert.is_nil(err)
    assert.equal("SUCCESS", e.status)
    local warned = 0
    for _, line in ipairs(logs) do
      if line:match("^warn waiting for export .*still waiting") then warned = warned + 1 end
    end
    assert.equal(3, warned)
  end)

  it("retries transient errors under the client's retry policy first", function()
    local c = new_client({ max_attempts = 3 })
    local id = m:create_export({ status = "SUCCESS" }).id
    m:fault({ path = "/2.11/exports/view", status = 503, times = 2 })
    local e = assert(c.exports.wait_for(id, FAST))
    assert.equal("SUCCESS", e.status)
    assert.equal(3, views(id))
    for _, line in ipairs(logs) do assert.not_matches("still waiting", line) end
  end)

  it("returns a fatal error at once: 404 for an unknown id, 401 for a bad key", function()
    local c = new_client()
    local e, err = c.exports.wait_for("export_doesnotexist", FAST)
    assert.is_nil(e)
    assert.equal(404, err.status)
    assert.equal(1, views())
    local bad = new_client({ rest_key = "wrong_key" })
    local id = m:create_export({ status = "RUNNING" }).id
    e, err = bad.exports.wait_for(id, FAST)
    assert.is_nil(e)
    assert.equal(401, err.status)
  end)

  it("reports progress on each check", function()
    local c = new_client()
    m:plan({ duration = 0.5 })
    local id = assert(c.exports.create(ATTRS))
    local seen = {}
    assert(c.exports.wait_for(id, { interval = 0.05, max_interval = 0.1,
      progress = function(e) seen[#seen + 1] = e.status end }))
    assert.is_true(#seen >= 1)
    for _, s in ipairs(seen) do assert.is_truthy(({ CREATED = 1, PENDING = 1, RUNNING = 1 })[s]) end
  end)
end)

describe("the poll cadence", function()
  -- Number of checks for an export that takes `duration` seconds, with the
  -- jitter always at its extreme `r` (0: never shortened).
  local function checks_for(duration, r, opts)
    local o = assert(wait.options(opts))
    local pauses = wait.pauses(o, function() return r end)
    local t, n = 0, 1                       -- the first check is immediate
    while t < duration do
      t = t + pauses()
      n = n + 1
    end
    return n
  end

  it("makes at most 30 checks for a 10-minute export with the defaults, whatever the jitter", function()
    assert.is_true(checks_for(600, 0) <= 30)
    assert.is_true(checks_for(600, 0.999999) <= 30)
    assert.is_true(checks_for(600, 0) >= 10)   -- and still notices the end within a minute
    assert.is_true(checks_for(60, 0) <= 8)
  end)

  it("makes at most 30 view calls for a 10-minute export on the mock's clock", function()
    -- The mock runs 200 mock seconds a real second; the client waits with
    -- the default cadence scaled by the same factor, so the run is the
    -- 10-minute wait compressed into 3 seconds.
    local speed = 200
    m:config({ speed = speed })
    local c = new_client()
    m:plan({ duration = 600 })
    -- Read the clock before the create: the export's 600 s count from its
    -- creation, which at 200 mock s a real second can be a fraction of a
    -- mock second before a clock read made after the create returns.
    local started = m:now()
    local id = assert(c.exports.create(ATTRS))
    local e = assert(c.exports.wait_for(id, {
      interval = wait.DEFAULTS.interval / speed, max_interval = wait.DEFAULTS.max_interval / speed,
    }))
    local took = m:now() - started
    assert.equal("SUCCESS", e.status)
    local n = views(id)
    print(string.format("\n  cadence: 10-minute export (mock clock), %d view calls, seen done %.0f mock s after the create was sent", n, took))
    assert.is_true(n <= 30, n .. " view calls")
    assert.is_true(took >= 600 and took < 600 + wait.DEFAULTS.max_interval + 30, "took " .. took)
  end)
end)

describe("tasks", function()
  it("waits for 50 exports in 50 tasks at once: wall time close to the slowest, not the sum", function()
    local c = new_client()
    local n, sum, slowest = 50, 0, 0
    local durations = {}
    for i = 1, n do
      durations[i] = 0.2 + 0.04 * i       -- 0.24 .. 2.2 s, all different
      sum, slowest = sum + durations[i], math.max(slowest, durations[i])
    end
    local ids = {}
    for i = 1, n do
      m:plan({ duration = durations[i] })
      ids[i] = assert(c.exports.create(ATTRS))
    end
    local t0 = core.now()
    local tasks, finished_at = {}, {}
    for i = 1, n do
      tasks[i] = batchexport.spawn(function()
        local e = assert(c.exports.wait_for(ids[i], { interval = 0.1, max_interval = 0.3 }))
        finished_at[i] = core.now() - t0
        return e.status, e.id
      end)
    end
    batchexport.run()
    local wall = core.now() - t0
    for i = 1, n do
      local ok, status, id = tasks[i]:result()
      assert.is_true(ok, tostring(status))
      assert.equal("SUCCESS", status)
      assert.equal(ids[i], id)
      assert.equal("done", tasks[i]:status())
    end
    -- One after another the waits would take the sum of the durations (61 s);
    -- half of it is far above anything concurrent waits take, loaded or under
    -- ASan. (How close the wall time is to the slowest: bench/frame_loop.lua.)
    assert.is_true(wall < sum / 2, string.format("wall %.2f s, slowest %.2f s, sum %.1f s", wall, slowest, sum))
    -- they finished at different times, in the order their exports did
    assert.is_true(finished_at[n] - finished_at[1] > 1, "spread " .. (finished_at[n] - finished_at[1]))
    assert.equal(0, scheduler.loop:count())
    assert.equal(0, scheduler.count())
  end)

  it("keeps one task's error on that task; the others finish", function()
    local c = new_client()
    local id = m:create_export({ status = "SUCCESS" }).id
    local good1 = batchexport.spawn(function() return c.exports.wait_for(id, FAST) end)
    local bad = batchexport.spawn(function()
      c.exports.view(id)
      error({ oops = true })
    end)
    local failing = batchexport.spawn(function()
      local e, err = c.exports.wait_for("export_nope", FAST)
      if not e then error(err, 0) end      -- busted's assert would turn err into a string
      return e
    end)
    local good2 = batchexport.spawn(function() return c.exports.view(id) end)
    batchexport.run()
    local ok, e = good1:result()
    assert.is_true(ok)
    assert.equal("SUCCESS", e.status)
    local ok2, err = bad:result()
    assert.is_false(ok2)
    assert.is_true(err.oops)
    assert.equal("failed", bad:status())
    local ok3, err3 = failing:result()
    assert.is_false(ok3)
    assert.equal(404, err3.status)
    assert.is_true((good2:result()))
  end)

  it("task:result() is nil while running; step says how many tasks remain", function()
    local t = batchexport.spawn(function() batchexport.sleep(0.2) return 42 end)
    assert.is_nil(t:result())
    assert.equal(1, batchexport.step(0))
    assert.equal("waiting", t:status())
    assert.is_nil(t:result())
    batchexport.run()
    assert.same({ true, 42 }, { t:result() })
    assert.equal(0, batchexport.step(0))
  end)

  it("task:wait() drives the scheduler outside a task and yields inside one", function()
    local a = batchexport.spawn(function() batchexport.sleep(0.1) return "a" end)
    local b = batchexport.spawn(function() return "b+" .. select(2, a:wait()) end)
    assert.same({ true, "b+a" }, { b:wait(5) })
    assert.same({ true, "a" }, { a:result() })
    local slow = batchexport.spawn(function() batchexport.sleep(5) end)
    assert.is_nil(slow:wait(0.05))
    slow:cancel()
  end)

  it("cancelling a task closes its transfer in flight; the others go on", function()
    local c = new_client()
    local id = m:create_export({ status = "SUCCESS" }).id
    m:fault({ path = "/2.11/exports/view", delay = 2, times = 1 })
    local victim = batchexport.spawn(function() return c.exports.wait_for(id, FAST) end)
    step_until(function() return scheduler.loop:count() == 1 end)
    local other = batchexport.spawn(function() return c.exports.wait_for(id, FAST) end)
    step_until(function() return scheduler.loop:count() == 2 end)
    assert.is_true(victim:cancel())
    assert.equal(1, scheduler.loop:count())
    assert.equal("cancelled", victim:status())
    local ok, err = victim:result()
    assert.is_false(ok)
    assert.is_true(err.cancelled)
    assert.is_false(victim:cancel())
    batchexport.run()
    local ok2, e = other:result()
    assert.is_true(ok2)
    assert.equal("SUCCESS", e.status)
    assert.equal(0, scheduler.loop:count())
  end)

  it("cancels a task while it sleeps between checks, and a task may cancel itself", function()
    local c = new_client()
    local id = m:create_export({ status = "RUNNING" }).id
    local t = batchexport.spawn(function() return c.exports.wait_for(id, { interval = 10 }) end)
    step_until(function() return views(id) == 1 and scheduler.loop:count() == 0 and t:status() == "waiting" end)
    assert.is_true(t:cancel())
    assert.equal(0, batchexport.step(0))
    local self_t
    local after = false
    self_t = batchexport.spawn(function() self_t:cancel() after = true end)
    batchexport.run()
    assert.equal("cancelled", self_t:status())
    assert.is_false(after)
  end)

  it("cancelling a task closes the transfers of its gather children, even from inside one", function()
    local c = new_client()
    local id = m:create_export({ status = "SUCCESS" }).id
    m:fault({ path = "/2.11/exports/view", delay = 2, times = 10 })
    local function view() return c.exports.view(id) end
    local t = batchexport.spawn(function() return scheduler.gather({ view, view, view }) end)
    step_until(function() return scheduler.loop:count() == 3 end)
    assert.is_true(t:cancel())
    assert.equal(0, scheduler.loop:count())
    local started = 0
    local self_t
    self_t = batchexport.spawn(function()
      return scheduler.gather({
        function() self_t:cancel() end,
        function() started = started + 1 return view() end,
        function() started = started + 1 return view() end,
      }, 1)
    end)
    batchexport.run()
    assert.equal("cancelled", self_t:status())
    assert.equal(0, started)              -- the cancel unwound the gather at once
    assert.equal(0, scheduler.loop:count())
  end)

  it("step and run refuse to run inside a task", function()
    local t = batchexport.spawn(function() batchexport.step(0) end)
    batchexport.run()
    local ok, err = t:result()
    assert.is_false(ok)
    assert.matches("inside a task", tostring(err))
  end)

  it("gives up one check at the deadline inside a task, leaving nothing in flight", function()
    local c = new_client()
    local id = m:create_export({ status = "RUNNING" }).id
    m:fault({ path = "/2.11/exports/view", delay = 3, times = 5 })
    local t = batchexport.spawn(function() return c.exports.wait_for(id, { timeout = 0.3, interval = 0.1 }) end)
    local t0 = core.now()
    batchexport.run()
    assert.is_true(core.now() - t0 < 3)   -- before the delayed answer: the check was closed, not awaited
    local ok, e, err = t:result()
    assert.is_true(ok)
    assert.is_nil(e)
    assert.equal("timeout", err.kind)
    assert.equal(0, scheduler.loop:count())
  end)
end)

describe("step(0)", function()
  it("returns at once while a slow transfer is in flight", function()
    local c = new_client()
    local id = m:create_export({ status = "SUCCESS" }).id
    m:fault({ path = "/2.11/exports/view", delay = 1, times = 1 })
    local t = batchexport.spawn(function() return c.exports.view(id) end)
    local in_flight = 0
    while batchexport.step(0) > 0 do
      batchexport.step(0)
      -- this step(0) returned while the transfer was still in flight, that
      -- is before the response arrived
      if scheduler.loop:count() > 0 then in_flight = in_flight + 1 end
      mock.sleep(0.001)            -- the host's own work between steps
    end
    assert.is_true((t:result()))
    -- A step(0) that waited for the 1 s response would return once, with it.
    -- (How long each step takes: bench/frame_loop.lua.)
    assert.is_true(in_flight >= 10, in_flight .. " steps while in flight")
  end)

  it("lets a frame loop keep its rate while a transfer runs", function()
    local c = new_client()
    local id = m:create_export({ status = "SUCCESS" }).id
    m:fault({ path = "/2.11/exports/view", delay = 1, times = 1 })
    local t = batchexport.spawn(function() return c.exports.view(id) end)
    local frame = 1 / 60
    local frames, t0 = 0, core.now()
    local next_frame = t0
    while t:status() ~= "done" do
      batchexport.step(0)
      frames = frames + 1                         -- "render"
      next_frame = next_frame + frame
      -- Real time on purpose: the frame loop's own pacing is the subject.
      local idle = next_frame - core.now()
      if idle > 0 then mock.sleep(idle) end
      assert(core.now() - t0 < 10, "the transfer never ended")
    end
    local took = core.now() - t0
    assert.is_true(took >= 1, "took " .. took)    -- the response was delayed 1 s
    -- Frames went on while it was: a loop held by step(0) until the response
    -- came would have drawn one or two. (The frame rate: bench/frame_loop.lua.)
    assert.is_true(frames >= 10, frames .. " frames")
  end)
end)

describe("wait.legacy", function()
  -- A legacy API stand-in that plays back statuses (the real client.legacy
  -- calls wait.legacy the same way).
  local function scripted(statuses, extra)
    local i = 0
    return {
      status = function(request_id)
        i = i + 1
        local s = statuses[math.min(i, #statuses)]
        if type(s) == "table" then return nil, s end
        local t = { id = request_id, status = s }
        for k, v in pairs(extra or {}) do t[k] = v end
        return t
      end,
    }, function() return i end
  end
  local errors = require("batchexport.errors")

  it("returns the status table once SUCCESS", function()
    local api, calls = scripted({ "CREATED", "PENDING", "PENDING", "SUCCESS" }, { file_url = "https://x/f" })
    local s = assert(wait.legacy(nil, api, "req-1", { interval = 0.01 }))
    assert.equal("SUCCESS", s.status)
    assert.equal(4, calls())
  end)

  it("turns ERROR into export_failed carrying the status and its error_msg", function()
    local api = scripted({ "PENDING", "ERROR" }, { error_msg = "campaign not found" })
    local s, err = wait.legacy(nil, api, "req-2", { interval = 0.01 })
    assert.is_nil(s)
    assert.equal("export_failed", err.kind)
    assert.equal("ERROR", err.export.status)
    assert.matches("campaign not found", err.message)
  end)

  it("turns EXPIRED into an expired error", function()
    local s, err = wait.legacy(nil, scripted({ "EXPIRED" }), "req-3", { interval = 0.01 })
    assert.is_nil(s)
    assert.equal("expired", err.kind)
    assert.equal("EXPIRED", err.export.status)
  end)

  it("waits through transient errors and stops at fatal ones", function()
    local transient = errors.new("api", "maintenance", { status = 503, retryable = true })
    local fatal = errors.new("api", "route not found", { status = 404 })
    local s = assert(wait.legacy(nil, scripted({ transient, "PENDING", transient, "SUCCESS" }), "r", { interval = 0.01 }))
    assert.equal("SUCCESS", s.status)
    local _, err = wait.legacy(nil, scripted({ "PENDING", fatal, "SUCCESS" }), "r", { interval = 0.01 })
    assert.equal(404, err.status)
  end)

  it("times out like the v2 wait", function()
    local _, err = wait.legacy(nil, scripted({ "PENDING" }), "r", { timeout = 0.2, interval = 0.05 })
    assert.equal("timeout", err.kind)
    assert.equal("PENDING", err.export.status)
  end)

  it("waits on the mock through client.legacy when it exists", function()
    local c = new_client()
    assert.is_table(c.legacy)            -- bound since the legacy API landed
    local rid = m:create_legacy({ duration = 0.5, outcome = "ERROR", error_msg = "no such campaign" }).id
    local s, err = wait.legacy(c, c.legacy, rid, FAST)
    assert.is_nil(s)
    assert.equal("export_failed", err.kind)
    assert.matches("no such campaign", err.message)
  end)
end)
