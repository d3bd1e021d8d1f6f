-- bench/frame_loop.lua: the wall-clock figures the specs used to assert
-- (spec/wait_spec.lua, spec/mock/cli_spec.lua), measured here instead, where
-- a loaded machine or ASan makes a number slow rather than a spec fail.
-- Starts its own mock; prints one line of key=value pairs (bench/common.lua):
--
--   step0_calls, step0_slowest_ms   step(0) in a loop with 1 ms of host work
--                                   between steps, during a 1 s response
--   frames, fps                     a 60 Hz frame loop calling step(0) while
--                                   a 1 s request runs (target 60; the spec
--                                   asserted > 40)
--   tasks_wall_s, tasks_slowest_s, tasks_sum_s   50 waits in 50 tasks (the
--                                   spec asserted wall < slowest + 1.5)
--   timeout_s                       wait_for with timeout = 0.6 (the spec
--                                   asserted < 1.5)
--   mock_start_s                    one `batchexport-mock start` (spec: < 5)
--
-- Run from the repository root, after `make build`:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/?.so;;' lua5.4 bench/frame_loop.lua
local batchexport = require("batchexport")
local core = require("batchexport.core")
local scheduler = require("batchexport.scheduler")
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local common = require("bench.common")

local ATTRS = { export_type = "ATTRIBUTES", attributes = { "$email_address" }, identifiers = { "custom_id" } }

local t0 = core.now()
local m = mock.start({ workers = 1 })
local mock_start = core.now() - t0
local ok, err = pcall(function()
  local c = client.new(m, client.QUICK)
  local out = { mock_start_s = string.format("%.3f", mock_start) }

  -- step(0) while a 1 s response is in flight
  local id = m:create_export({ status = "SUCCESS" }).id
  m:fault({ path = "/2.11/exports/view", delay = 1, times = 1 })
  local t = batchexport.spawn(function() return c.exports.view(id) end)
  local calls, worst = 0, 0
  while batchexport.step(0) > 0 do
    local s = core.now()
    batchexport.step(0)
    worst = math.max(worst, core.now() - s)
    calls = calls + 1
    mock.sleep(0.001)
  end
  assert(t:result())
  out.step0_calls, out.step0_slowest_ms = calls, string.format("%.2f", worst * 1000)

  -- a 60 Hz frame loop while a 1 s request runs
  m:fault({ path = "/2.11/exports/view", delay = 1, times = 1 })
  t = batchexport.spawn(function() return c.exports.view(id) end)
  local frames, start = 0, core.now()
  local next_frame = start
  while t:status() ~= "done" do
    batchexport.step(0)
    frames = frames + 1
    next_frame = next_frame + 1 / 60
    local idle = next_frame - core.now()
    if idle > 0 then mock.sleep(idle) end
  end
  local took = core.now() - start
  out.frames, out.fps = frames, string.format("%.1f", frames / took)

  -- 50 waits in 50 tasks
  m:reset()
  local n, sum, slowest, ids = 50, 0, 0, {}
  for i = 1, n do
    local d = 0.2 + 0.04 * i
    sum, slowest = sum + d, math.max(slowest, d)
    m:plan({ duration = d })
    ids[i] = assert(c.exports.create(ATTRS))
  end
  start = core.now()
  for i = 1, n do
    batchexport.spawn(function() assert(c.exports.wait_for(ids[i], { interval = 0.1, max_interval = 0.3 })) end)
  end
  batchexport.run()
  out.tasks_wall_s = string.format("%.2f", core.now() - start)
  out.tasks_slowest_s, out.tasks_sum_s = string.format("%.2f", slowest), string.format("%.1f", sum)

  -- the overshoot of a wait_for timeout
  m:plan({ duration = 3600 })
  local running = assert(c.exports.create(ATTRS))
  start = core.now()
  c.exports.wait_for(running, { timeout = 0.6, interval = 0.1, max_interval = 0.2 })
  out.timeout_s = string.format("%.3f", core.now() - start)
  assert(scheduler.loop:count() == 0)

  common.report(out)
end)
m:stop()
if not ok then error(err, 0) end
