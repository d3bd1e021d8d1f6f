--- batchexport.scheduler: how a call waits. Every transfer runs on one curl
-- multi handle (the loop). A call made inside a task started by spawn() yields
-- while its transfer is in flight or its timer runs, so many tasks advance in
-- one thread; inside an nginx handler it steps the loop between ngx.sleep()s,
-- so the worker's event loop never blocks; anywhere else it blocks in the
-- loop's poll, which wakes as soon as the network has something.
local core = require("batchexport.core")

local M = {}

local loop = core.loop()
M.loop = loop

local tasks = {}                                   -- live tasks, in spawn order
local task_of = setmetatable({}, { __mode = "k" }) -- coroutine -> task
local WAIT = {}                                    -- what our yields carry

local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local Task = {}
Task.__index = Task
Task.__name = "batchexport.task"

function Task:__tostring()
  return "batchexport.task (" .. self.state .. ")"
end

--- task:status() -> "ready" | "waiting" | "done" | "failed" | "cancelled"
function Task:status()
  return self.state
end

--- task:result() -> like pcall: true, ... once the function returned;
-- false, err if it raised or was cancelled; nil while it still runs.
function Task:result()
  if self.state == "done" then return true, unpack(self.values, 1, self.values.n) end
  if self.state == "failed" or self.state == "cancelled" then return false, self.err end
  return nil
end

local function remove_task(task)
  for i = #tasks, 1, -1 do
    if tasks[i] == task then table.remove(tasks, i) return end
  end
end

--- task:cancel(): stops the task where it waits; its transfer is closed at
-- once (removed from the loop, its handles freed) and its to-be-closed
-- variables are closed (Lua 5.4).
function Task:cancel()
  if self.state == "done" or self.state == "failed" or self.state == "cancelled" then return end
  for transfer in pairs(self.transfers) do transfer:close() end
  self.state = "cancelled"
  self.err = require("batchexport.errors").new("network", "task cancelled")
  remove_task(self)
  if coroutine.close and coroutine.status(self.co) == "suspended" then coroutine.close(self.co) end
end

local function current_task()
  local co = coroutine.running()
  return co and task_of[co]
end

-- nginx phases in which ngx.sleep may yield to the event loop.
local NGX_YIELDABLE = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

local function in_nginx()
  local ngx = rawget(_G, "ngx")
  if not (ngx and ngx.get_phase and ngx.sleep) then return false end
  local ok, phase = pcall(ngx.get_phase)
  return ok and NGX_YIELDABLE[phase] or false
end

-- Suspends the caller until ready() is true. In a task (or a child of
-- gather), it yields to whoever resumes it; in nginx it steps the loop
-- between ngx.sleep()s; elsewhere it blocks in the loop's poll. tick, if
-- given, runs after each wake-up (progress reports).
local function wait_until(ready, tick, deadline)
  local task = current_task()
  if task then
    task.ready = ready
    task.wake_at = deadline
    while not ready() and not (deadline and core.now() >= deadline) do
      coroutine.yield(WAIT)
      if tick then tick() end
    end
    task.ready, task.wake_at = nil, nil
  elseif in_nginx() then
    local pause = 0.001
    while true do
      loop:perform()
      if ready() then break end
      local now = core.now()
      if deadline and now >= deadline then break end
      if tick then tick() end
      local nap = deadline and math.min(pause, deadline - now) or pause
      ngx.sleep(nap)
      pause = math.min(pause * 2, 0.016)
    end
  else
    while not ready() do
      local now = core.now()
      if deadline and now >= deadline then break end
      loop:poll(deadline and math.min(0.25, deadline - now) or 0.25)
      if tick then tick() end
    end
  end
end
M.wait_until = wait_until

--- scheduler.await(transfer [, tick]): returns once the transfer is over.
function M.await(transfer, tick)
  wait_until(function() return transfer:done() end, tick)
end

--- scheduler.sleep(seconds): a pause that lets other tasks run.
function M.sleep(seconds)
  if not (seconds > 0) then return end
  wait_until(function() return false end, nil, core.now() + seconds)
end

--- scheduler.spawn(fn, ...) -> task
function M.spawn(fn, ...)
  assert(type(fn) == "function", "spawn: expected a function")
  local args = pack(...)
  local task = setmetatable({ state = "ready", transfers = setmetatable({}, { __mode = "k" }) }, Task)
  task.co = coroutine.create(function() return fn(unpack(args, 1, args.n)) end)
  task_of[task.co] = task
  tasks[#tasks + 1] = task
  return task
end

local function runnable(task, now)
  if task.state == "ready" then return true end
  if task.wake_at and now >= task.wake_at then return true end
  if task.ready then return task.ready() end
  return task.wake_at == nil   -- a plain coroutine.yield of the user's: run again
end

local function resume(task)
  task.state = "ready"
  local res = pack(coroutine.resume(task.co))
  if coroutine.status(task.co) == "dead" then
    remove_task(task)
    if res[1] then
      task.state = "done"
      task.values = pack(unpack(res, 2, res.n))
    else
      task.state = "failed"
      task.err = res[2]
    end
  elseif task.state == "ready" then
    task.state = "waiting"
  end
end

local function run_ready()
  local now, ran = core.now(), 0
  local snapshot = { unpack(tasks) }
  for _, task in ipairs(snapshot) do
    if task.state ~= "cancelled" and runnable(task, now) then
      resume(task)
      ran = ran + 1
    end
  end
  return ran
end

local function next_timer()
  local soonest
  for _, task in ipairs(tasks) do
    if task.wake_at and (soonest == nil or task.wake_at < soonest) then
      soonest = task.wake_at
    end
  end
  return soonest
end

--- scheduler.step([timeout]) -> tasks still alive. Advances every transfer
-- and every task that can go on, waiting at most timeout seconds (default 0:
-- not at all) for one to become ready.
function M.step(timeout)
  timeout = timeout or 0
  local deadline = core.now() + timeout
  loop:perform()
  local ran = run_ready()
  while ran == 0 and #tasks > 0 do
    local now = core.now()
    if now >= deadline then break end
    local wait = deadline - now
    local timer = next_timer()
    if timer then wait = math.max(0, math.min(wait, timer - now)) end
    loop:poll(wait)
    ran = run_ready()
  end
  return #tasks
end

--- scheduler.own(transfer): ties a transfer to the running task, so that
-- cancelling the task closes it.
function M.own(transfer)
  local task = current_task()
  if task then task.transfers[transfer] = true end
end

--- scheduler.gather(fns [, parallel]) -> results: runs the functions as
-- children of the caller, at most `parallel` at a time (default all), and
-- returns, for each, { true, values... } or { false, err }. The children
-- wait on the loop like tasks do, so their transfers overlap; the caller
-- waits for them as it would for one call (yielding in a task, blocking
-- elsewhere).
function M.gather(fns, parallel)
  parallel = parallel or #fns
  local parent = current_task()
  local transfers = parent and parent.transfers or setmetatable({}, { __mode = "k" })
  local results, running, started = {}, {}, 0
  local function any_runnable()
    local now = core.now()
    for _, child in ipairs(running) do
      if runnable(child, now) then return true end
    end
    return false
  end
  while true do
    while #running < parallel and started < #fns do
      started = started + 1
      local child = { state = "ready", index = started, transfers = transfers }
      child.co = coroutine.create(fns[started])
      task_of[child.co] = child
      running[#running + 1] = child
    end
    if #running == 0 then break end
    local now = core.now()
    for i = #running, 1, -1 do
      local child = running[i]
      if runnable(child, now) then
        child.state = "waiting"
        local res = pack(coroutine.resume(child.co))
        if coroutine.status(child.co) == "dead" then
          table.remove(running, i)
          results[child.index] = res
        end
      end
    end
    if #running > 0 and not any_runnable() then
      local soonest
      for _, child in ipairs(running) do
        if child.wake_at and (not soonest or child.wake_at < soonest) then soonest = child.wake_at end
      end
      wait_until(any_runnable, nil, soonest)
    end
  end
  return results
end

--- scheduler.run(): steps until every task has ended.
function M.run()
  while M.step(3600) > 0 do end
end

--- scheduler.tasks() -> number of live tasks
function M.count()
  return #tasks
end

return M
