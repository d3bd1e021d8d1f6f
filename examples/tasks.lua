--- examples/tasks.lua: many exports waited for at once, in one thread.
-- Each export gets a task (batchexport.spawn); inside a task every network
-- call and every pause between status checks yields, so the tasks overlap
-- and the whole run takes about as long as the slowest export.
--
--   eval "$(bin/batchexport-mock start)"
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/?.so;;" \
--     lua5.4 examples/tasks.lua [count] [interval_seconds]
local batchexport = require("batchexport")

local count = tonumber(arg[1]) or 10
local interval = tonumber(arg[2]) or 1
local now = require("batchexport.core").now   -- a monotonic clock

local client = batchexport.assert(batchexport.new({
  base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL"),
  rest_key = os.getenv("BATCH_REST_KEY"),
  project_key = os.getenv("BATCH_PROJECT_KEY"),
}))

local started = now()
local tasks = {}
for i = 1, count do
  tasks[i] = batchexport.spawn(function()
    local id = batchexport.assert(client.exports.create({
      export_type = "ATTRIBUTES", attributes = { "$email_address" }, identifiers = { "custom_id" },
    }))
    local t0 = now()
    local export, err = client.exports.wait_for(id, { interval = interval, max_interval = 4 * interval })
    if not export then error(err, 0) end    -- kept on this task; the others go on
    local took = now() - t0
    print(string.format("task %2d: %s %s after %.1f s", i, export.id, export.status, took))
    return took
  end)
end

batchexport.run()                             -- until every task has ended

local sum, failed = 0, 0
for i, task in ipairs(tasks) do
  local ok, value = task:result()             -- like pcall: true, values / false, err
  if ok then
    sum = sum + value
  else
    failed = failed + 1
    print(string.format("task %2d failed: %s", i, tostring(value)))
  end
end
print(string.format("%d exports in %.1f s of wall time (%.1f s if waited one after another), %d failed",
  count, now() - started, sum, failed))
os.exit(failed == 0 and 0 or 1)
