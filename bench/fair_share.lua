-- bench/fair_share.lua [MB] [ROUNDS]: fair share in a plain Lua host (issue 16).
-- Against a mock it starts itself, with an export of MB (default 100) in one
-- part, it measures:
--   * plain:    `for r in client.exports.records(id)` in the main thread
--               (no slice: nothing to yield to), records per second;
--   * task:     the same loop in a task, the host calling step(0) as a frame
--               loop would: records per second, the longest step(0) and the
--               99th percentile; and the longest by the process's CPU time
--               (os.clock), which a scheduler setting the process aside
--               does not lengthen;
--   * unsliced: the task again with the client option slice = 0 (it yields
--               only when its buffer is empty), for the cost of the slice.
-- Each mode ROUNDS times (default 5), alternated; the median is reported.
-- Run from the repository root after `make build`:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/?.so;;' lua5.4 bench/fair_share.lua 100 5
local batchexport = require("batchexport")
local core = require("batchexport.core")
local mock = require("spec.support.mock")

local mb = tonumber(arg[1]) or 100
local rounds = tonumber(arg[2]) or 5

local m = mock.start()
local ok, err = pcall(function()
  local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = mb * 1024 * 1024 })
  local expected = m:file(e.files[1].id).records

  local function client(slice)
    return assert(batchexport.new({ rest_key = m.rest_key, project_key = m.project_key,
      base_url = m.api_url, slice = slice }))
  end

  local function plain()
    local c, n = client(), 0
    local t0 = core.now()
    for _ in c.exports.records(e.id) do n = n + 1 end
    assert(n == expected, "records: " .. n)
    return { seconds = core.now() - t0 }
  end

  local function in_task(slice)
    local c, n = client(slice), 0
    local task = batchexport.spawn(function()
      for _ in c.exports.records(e.id) do n = n + 1 end
    end)
    local steps, cpu, t0 = {}, 0, core.now()
    while true do
      local s0, c0 = core.now(), os.clock()
      local left = batchexport.step(0)
      steps[#steps + 1] = core.now() - s0
      cpu = math.max(cpu, os.clock() - c0)
      if left == 0 then break end
    end
    local seconds = core.now() - t0
    assert(task:result())
    assert(n == expected, "records: " .. n)
    table.sort(steps)
    return { seconds = seconds, longest = steps[#steps], p99 = steps[math.max(1, math.ceil(#steps * 0.99))],
      steps = #steps, cpu = cpu }
  end

  local runs = { plain = {}, task = {}, unsliced = {} }
  for _ = 1, rounds do
    table.insert(runs.plain, plain())
    table.insert(runs.task, in_task())
    table.insert(runs.unsliced, in_task(0))
  end

  local function median(list, key)
    local v = {}
    for i, r in ipairs(list) do v[i] = r[key] end
    table.sort(v)
    return v[math.ceil(#v / 2)]
  end
  local function worst(list, key)
    local w = 0
    for _, r in ipairs(list) do w = math.max(w, r[key]) end
    return w
  end

  print(string.format("export: %d MB, %d records, %d rounds (medians)", mb, expected, rounds))
  for _, mode in ipairs({ "plain", "task", "unsliced" }) do
    local s = median(runs[mode], "seconds")
    local line = string.format("%-9s %.3f s  %8.0f records/s", mode, s, expected / s)
    if mode ~= "plain" then
      line = line .. string.format("  step(0): median-of-p99 %.2f ms, longest of all rounds %.2f ms"
        .. " (by CPU time %.2f ms), %d steps", median(runs[mode], "p99") * 1000, worst(runs[mode], "longest") * 1000,
        worst(runs[mode], "cpu") * 1000, median(runs[mode], "steps"))
    end
    print(line)
  end
  print(string.format("task / plain throughput: %.3f; task / unsliced: %.3f",
    median(runs.plain, "seconds") / median(runs.task, "seconds"),
    median(runs.unsliced, "seconds") / median(runs.task, "seconds")))
end)
m:stop()
if not ok then error(err, 0) end
