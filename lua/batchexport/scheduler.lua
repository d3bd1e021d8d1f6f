--- batchexport.scheduler: how a call waits. Every transfer runs on one curl
-- multi handle (the loop). A call made inside a task started by spawn() yields
-- while its transfer is in flight or its timer runs, so many tasks advance in
-- one thread; inside an nginx handler it steps the loop between ngx.sleep()s,
-- so the worker's event loop never blocks; anywhere else it blocks in the
-- loop's poll, which wakes as soon as the network has something.
--
--   spawn(fn, ...) -> task       step([timeout]) -> tasks alive     run()
--   sleep(seconds)               wait_until(ready [, tick [, deadline]])
--   pause()  slicer(seconds)     can_yield()  cannot_wait()
--   await(transfer [, tick])     own(transfer)
--   gather(fns [, parallel])     limit(deadline, fn, ...)
--
-- A task: task:status(), task:result() (pcall-like), task:cancel(),
-- task:wait([timeout]).
local class = require("batchexport.class")
local core = require("batchexport.core")

local M = {}

local loop = core.loop()
M.loop = loop

local tasks = {}                                   -- live tasks, in spawn order
local task_of = setmetatable({}, { __mode = "k" }) -- coroutine -> task (or child of gather/limit)
local WAIT = {}                                    -- what our yields carry

local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local function weak_set() return setmetatable({}, { __mode = "k" }) end

local function current_task()
  local co = coroutine.running()
  return co and task_of[co]
end

-- nginx phases in which ngx.sleep may yield to the event loop.
local NGX_YIELDABLE = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

-- The nginx phase we run in, or nil outside nginx.
local function ngx_phase()
  local ngx = rawget(_G, "ngx")
  if not (ngx and ngx.get_phase and ngx.sleep) then return nil end
  local ok, phase = pcall(ngx.get_phase)
  return ok and phase or nil
end

local function in_nginx()
  return NGX_YIELDABLE[ngx_phase()] or false
end
M.in_nginx = in_nginx

--- scheduler.cannot_wait() -> nil, or the error for a call that would
-- wait in an nginx phase that cannot yield (init_by_lua, set_by_lua,
-- header and body filters, log, balancer...): there, waiting would block
-- the worker's event loop, so the call says so instead.
function M.cannot_wait()
  local phase = ngx_phase()
  if phase and not NGX_YIELDABLE[phase] then
    return require("batchexport.errors").new("config", "cannot wait in nginx's " .. phase ..
      " phase (it cannot yield): call from a content, access, rewrite or timer handler, or ngx.timer.at",
      { phase = phase })
  end
end

-- Inside nginx, a wait is a series of short ngx.sleep()s with the loop
-- stepped in between: the first nap is 1 ms, doubling up to 16 ms while
-- transfers are in flight (so a reply is seen within ~16 ms), and up to
-- 250 ms when nothing is (only the clock, or another light thread of the
-- same request, can end that wait).
local NGX_FIRST_NAP, NGX_MAX_NAP, NGX_IDLE_NAP = 0.001, 0.016, 0.25

-- Blocks the thread (or, in nginx, the current request only) for at most
-- `seconds`, returning early on network activity; performs the loop.
-- `nap` is the caller's nginx back-off state; returns the next one.
local function block(seconds, nap)
  if in_nginx() then
    nap = nap or NGX_FIRST_NAP
    loop:perform()
    local cap = loop:count() > 0 and nap or NGX_IDLE_NAP
    ngx.sleep(math.max(0.001, math.min(seconds, cap)))
    local _, _, more = loop:perform()
    -- A download held at its burst has bytes waiting: no longer nap.
    return more and NGX_FIRST_NAP or math.min(nap * 2, NGX_MAX_NAP)
  end
  loop:poll(seconds)
  return nap
end

-- PUC Lua 5.1 cannot yield across a C call: from a `for` loop's iterator,
-- inside pcall, or inside a metamethod ("attempt to yield across
-- metamethod/C-call boundary"). It has no coroutine.isyieldable, so the
-- caller's stack tells: a C frame, an iterator, or a call no name explains
-- (a metamethod's; a tail call is explained by the "tail" entry above it).
-- A task's wait there blocks instead, and the task still ends with its result.
local PUC51 = _VERSION == "Lua 5.1" and not rawget(_G, "jit")

--- Whether a `for` loop's iterator may yield: not on PUC Lua 5.1, whatever
-- runs it (there, stream.iterator leaves the waits to the C iterator's
-- fallback, which blocks).
M.iterators_yield = not PUC51

local function can_yield()
  if coroutine.isyieldable then return coroutine.isyieldable() end  -- 5.3+
  if not PUC51 then return true end  -- 5.2 and LuaJIT yield across all three
  local level = 3                    -- above can_yield and wait_until
  while true do
    local info = debug.getinfo(level, "Sn")
    if not info then return true end
    if info.what == "C" or info.name == "(for generator)" then return false end
    if info.namewhat == "" and info.what ~= "tail" then
      local caller = debug.getinfo(level + 1, "S")
      if caller and caller.what ~= "tail" then return false end
    end
    level = level + 1
  end
end

--- scheduler.wait_until(ready [, tick [, deadline]]): suspends the caller
-- until ready() is true or core.now() reaches deadline. In a task (or a
-- child of gather/limit) it yields to whoever resumes it; in nginx it steps
-- the loop between ngx.sleep()s; elsewhere it blocks in the loop's poll.
-- tick, if given, runs after each wake-up (progress reports).
local function wait_until(ready, tick, deadline)
  local task = current_task()
  if task and can_yield() then
    task.ready = ready
    task.wake_at = deadline
    while not ready() and not (deadline and core.now() >= deadline) do
      coroutine.yield(WAIT)
      if tick then tick() end
    end
    task.ready, task.wake_at = nil, nil
    return
  end
  local nap
  while true do
    if nap == nil and in_nginx() then loop:perform() end
    if ready() then return end
    local now = core.now()
    if deadline and now >= deadline then return end
    nap = block(deadline and math.min(0.25, deadline - now) or 0.25, nap)
    if tick then tick() end
  end
end
M.wait_until = wait_until

--- scheduler.can_yield() -> whether a wait here yields (in a task, or in an
-- nginx phase that allows ngx.sleep) rather than blocks.
function M.can_yield()
  return (current_task() ~= nil and can_yield()) or in_nginx()
end

-- An nginx pause. Not ngx.sleep(0): without OpenResty's delayed-events
-- patch (Debian's nginx) that is a timer already due, which the worker runs
-- again before it polls, so other requests would still wait. 1 ms is the
-- shortest sleep that lets the worker poll first.
local NGX_PAUSE = 0.001

--- scheduler.pause(): hands control back for a moment, after a slice of
-- work: a task yields (its step() returns, the other tasks run), an nginx
-- handler lets the worker serve other requests (ngx.sleep(0.001));
-- elsewhere, and where PUC Lua 5.1 cannot yield, it does nothing.
function M.pause()
  local task = current_task()
  if task and can_yield() then
    task.ready, task.wake_at = nil, nil   -- runnable again at the next step
    coroutine.yield(WAIT)
  elseif in_nginx() then
    ngx.sleep(NGX_PAUSE)
    loop:perform()
  end
end

--- scheduler.slicer(seconds) -> a function to call after each piece of
-- work: once seconds of work have passed since the last pause, it pauses
-- (scheduler.pause). It reads the clock only every few calls. seconds 0,
-- or a caller that cannot yield: it never pauses.
local SLICE_CHECK = 32
function M.slicer(seconds)
  if not (seconds and seconds > 0) or not M.can_yield() then return function() end end
  local countdown, started = SLICE_CHECK, core.now()
  return function()
    countdown = countdown - 1
    if countdown > 0 then return end
    countdown = SLICE_CHECK
    if core.now() - started < seconds then return end
    M.pause()
    started = core.now()
  end
end

--- scheduler.await(transfer [, tick]): returns once the transfer is over.
function M.await(transfer, tick)
  wait_until(function() return transfer:done() end, tick)
end

local function never() return false end

--- scheduler.sleep(seconds): a pause that lets other tasks run (in a task),
-- lets the nginx worker serve other requests (in nginx), or blocks.
function M.sleep(seconds)
  if not (type(seconds) == "number" and seconds > 0) then return end
  wait_until(never, nil, core.now() + seconds)
end

--- scheduler.own(transfer): ties a transfer to the running task (and to the
-- tasks it runs in), so that cancelling the task closes it.
-- A transfer started by a task already cancelled (code that ran on after
-- the cancel, in a child of gather say) is closed at once.
function M.own(transfer)
  if in_nginx() then
    -- Also the request's own, for abandon() when the client hangs up.
    local ctx = ngx.ctx
    ctx.batchexport_transfers = ctx.batchexport_transfers or weak_set()
    ctx.batchexport_transfers[transfer] = true
  end
  local task = current_task()
  while task do
    if task.state == "cancelled" then
      transfer:close()
      error(task.err, 0)
    end
    task.transfers[transfer] = true
    task = task.parent
  end
end

local function close_transfers(task)
  for transfer in pairs(task.transfers) do
    pcall(transfer.close, transfer)
    task.transfers[transfer] = nil
  end
end

-- Raises the cancel error if the task or one it runs in was cancelled
-- (after closing the transfers of `child`, if given).
local function check_cancelled(task, child)
  while task do
    if task.state == "cancelled" then
      if child then close_transfers(child) end
      error(task.err, 0)
    end
    task = task.parent
  end
end

local function runnable(task, now)
  if task.state == "ready" then return true end
  if task.wake_at and now >= task.wake_at then return true end
  if task.ready then return task.ready() end
  return task.wake_at == nil   -- a plain coroutine.yield of the user's: run again
end

---------------------------------------------------------------------------
-- Tasks

local Task = class("task", function(self) return self.state end)

local FINISHED = { done = true, failed = true, cancelled = true }

--- task:status() -> "ready" (not started or about to run) | "running" |
-- "waiting" | "done" | "failed" | "cancelled"
function Task:status()
  return self.state
end

--- task:result() -> like pcall: true, values... once the function returned;
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

local function cancel_error()
  return require("batchexport.errors").new("network", "task cancelled", { cancelled = true })
end

--- task:cancel() -> true if it stopped the task, false if it had ended.
-- The task stops where it waits; its transfers are closed at once (removed
-- from the loop, their handles freed) and, on Lua 5.4, its to-be-closed
-- variables are closed. task:result() then gives false, err with
-- err.cancelled = true. A task may cancel itself: the call does not return.
function Task:cancel()
  if FINISHED[self.state] then return false end
  close_transfers(self)
  self.state = "cancelled"
  self.err = cancel_error()
  self.ready, self.wake_at = nil, nil
  remove_task(self)
  local status = coroutine.status(self.co)
  local here = current_task()
  while here and here ~= self do here = here.parent end
  if here then
    error(self.err, 0)          -- unwinds the task; resume() sees it cancelled
  elseif status == "suspended" and coroutine.close then
    coroutine.close(self.co)
  end
  return true
end

local step

--- task:wait([timeout]) -> what task:result() gives, once the task ended or
-- timeout seconds passed (then nil). In another task it yields; elsewhere it
-- steps the scheduler (so every task advances meanwhile).
function Task:wait(timeout)
  local deadline = timeout and core.now() + timeout
  local function over() return FINISHED[self.state] ~= nil end
  if current_task() then
    wait_until(over, nil, deadline)
  else
    while not over() do
      local now = core.now()
      if deadline and now >= deadline then break end
      step(deadline and math.min(deadline - now, 3600) or 3600)
    end
  end
  return self:result()
end

-- Whose tasks a step() runs. In nginx each request (or timer) has its own:
-- a request's run() never resumes another request's coroutines. Elsewhere
-- there is one owner, the process.
local PROCESS = {}
local function owner()
  if in_nginx() then return ngx.ctx end
  return PROCESS
end

--- scheduler.abandon(): in an nginx request, closes every transfer it
-- started and cancels every task it spawned, at once. For ngx.on_abort
-- (with `lua_check_client_abort on`): a client that hangs up leaves nothing
-- running on the worker's loop. Elsewhere it does nothing.
function M.abandon()
  if not in_nginx() then return end
  local ctx = ngx.ctx
  for _, task in ipairs({ unpack(tasks) }) do
    if task.owner == ctx then task:cancel() end
  end
  for transfer in pairs(ctx.batchexport_transfers or {}) do transfer:close() end
  ctx.batchexport_transfers = nil
end

--- scheduler.spawn(fn, ...) -> task. The task starts at the next step().
function M.spawn(fn, ...)
  assert(type(fn) == "function", "spawn: expected a function")
  local args = pack(...)
  local task = setmetatable({ state = "ready", transfers = weak_set(), owner = owner() }, Task)
  task.co = coroutine.create(function() return fn(unpack(args, 1, args.n)) end)
  task_of[task.co] = task
  tasks[#tasks + 1] = task
  return task
end

local function resume(task)
  task.state = "running"
  local res = pack(coroutine.resume(task.co))
  if task.state == "cancelled" then return end  -- it cancelled itself
  if coroutine.status(task.co) == "dead" then
    remove_task(task)
    if res[1] then
      task.state = "done"
      task.values = pack(unpack(res, 2, res.n))
    else
      task.state = "failed"
      task.err = res[2]
      close_transfers(task)  -- an error thrown mid-transfer leaves nothing in flight
    end
  else
    task.state = "waiting"
  end
end

-- The live tasks a step() here may run.
local function mine()
  local who, out = owner(), {}
  for _, task in ipairs(tasks) do
    if task.owner == who then out[#out + 1] = task end
  end
  return out
end

-- Runs the tasks of list that can go on, until deadline: a task runs for
-- at most a slice before it yields (scheduler.pause), so a step() returns
-- within its timeout plus about one slice. The tasks left for the next
-- step go first then, so that none starves.
local first_of = setmetatable({}, { __mode = "k" })  -- owner -> task to run first
local function run_ready(list, deadline)
  local now, ran = core.now(), 0
  local who = owner()
  local first = first_of[who]
  local start = 1
  for i, task in ipairs(list) do
    if task == first then start = i break end
  end
  first_of[who] = nil
  for k = 0, #list - 1 do
    local task = list[(start - 1 + k) % #list + 1]
    if ran > 0 and deadline and core.now() >= deadline then
      first_of[who] = task
      break
    end
    if not FINISHED[task.state] and runnable(task, now) then
      resume(task)
      ran = ran + 1
    end
  end
  return ran
end

local function next_timer(list)
  local soonest
  for _, task in ipairs(list) do
    if task.wake_at and (soonest == nil or task.wake_at < soonest) then
      soonest = task.wake_at
    end
  end
  return soonest
end

--- scheduler.step([timeout]) -> tasks still alive. Advances every transfer
-- (tasks' or not) and runs every task that can go on. When none could, it
-- waits up to timeout seconds (default 0: not at all) for one to become
-- ready, then runs it. Never blocks longer than timeout plus about one
-- slice (a streaming task yields after each, scheduler.pause); in nginx,
-- the wait is ngx.sleep()s.
function step(timeout)
  if current_task() then error("batchexport.step/run: called from inside a task", 2) end
  timeout = timeout or 0
  local deadline = core.now() + timeout
  loop:perform()
  local ran = run_ready(mine(), deadline)
  local nap
  while true do
    local list = mine()
    if ran > 0 or #list == 0 then return #list end
    local now = core.now()
    if now >= deadline then return #list end
    local wait = deadline - now
    local timer = next_timer(list)
    if timer then wait = math.max(0, math.min(wait, timer - now)) end
    nap = block(wait, nap)
    ran = run_ready(list, deadline)
  end
end
M.step = step

--- scheduler.run(): steps until every task has ended. Errors stay on their
-- tasks (task:result()); run() itself does not raise them.
function M.run()
  while step(3600) > 0 do end
end

--- scheduler.count() -> number of live tasks (in nginx: of this request)
function M.count()
  return #mine()
end

--- scheduler.tasks() -> a list of the live tasks (in nginx: of this request)
function M.tasks()
  return mine()
end

---------------------------------------------------------------------------
-- Children: functions run as coroutines on behalf of the caller, which waits
-- for them as it would for one call (yielding in a task, blocking elsewhere).

local function new_child(fn, parent)
  local child = { state = "ready", parent = parent, transfers = weak_set() }
  child.co = coroutine.create(fn)
  task_of[child.co] = child
  return child
end

--- scheduler.limit(deadline, fn, ...) -> true, fn's values... if fn returned
-- before core.now() reached deadline; nil if it did not, in which case its
-- transfers are closed and it is abandoned (to-be-closed variables closed on
-- 5.4). An error raised by fn is raised again. deadline nil: no limit.
function M.limit(deadline, fn, ...)
  if deadline == nil then return true, fn(...) end
  local parent = current_task()
  local child = new_child(fn, parent)
  local res = pack(coroutine.resume(child.co, ...))
  check_cancelled(parent, child)
  while true do
    if coroutine.status(child.co) == "dead" then
      if res[1] then return true, unpack(res, 2, res.n) end
      close_transfers(child)
      error(res[2], 0)
    end
    child.state = "waiting"
    local function go() return runnable(child, core.now()) end
    if not go() then
      local at = child.wake_at and math.min(child.wake_at, deadline) or deadline
      wait_until(go, nil, at)
    else
      M.pause()   -- the child paused after a slice: so does its caller
    end
    if core.now() >= deadline and not go() then
      close_transfers(child)
      if coroutine.close then coroutine.close(child.co) end
      return nil
    end
    res = pack(coroutine.resume(child.co))
    check_cancelled(parent, child)
  end
end

--- scheduler.gather(fns [, parallel]) -> results: runs the functions as
-- children of the caller, at most `parallel` at a time (default all), and
-- returns, for each, { true, values... } or { false, err }. The children
-- wait on the loop like tasks do, so their transfers overlap.
function M.gather(fns, parallel)
  parallel = parallel or #fns
  local parent = current_task()
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
      local child = new_child(fns[started], parent)
      child.index = started
      running[#running + 1] = child
    end
    if #running == 0 then break end
    local now = core.now()
    for i = #running, 1, -1 do
      local child = running[i]
      if runnable(child, now) then
        child.state = "waiting"
        local res = pack(coroutine.resume(child.co))
        check_cancelled(parent)   -- cancelled meanwhile (by a child, say): stop here
        if coroutine.status(child.co) == "dead" then
          table.remove(running, i)
          results[child.index] = res
        end
      end
    end
    if #running > 0 and any_runnable() then
      M.pause()   -- a child paused after a slice: so does the caller
    elseif #running > 0 then
      local soonest
      for _, child in ipairs(running) do
        if child.wake_at and (not soonest or child.wake_at < soonest) then soonest = child.wake_at end
      end
      wait_until(any_runnable, nil, soonest)
    end
  end
  return results
end

return M
