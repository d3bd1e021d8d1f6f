--- batchexport.wait: waiting for an export to end, for both APIs.
--
--   wait.export(client, exports_api, id, opts)          (exports.wait_for)
--   wait.legacy(client, legacy_api, request_id, opts)   (legacy.wait_for)
--   wait.poll(fetch, classify, opts [, log])             the shared core
--
-- The cadence: the first check is immediate; the pauses between checks start
-- at `interval` and grow by `backoff` each time up to `max_interval`, each
-- shortened by a random part of at most `jitter` of itself (so many waiters
-- started together spread out). With the defaults (5 s, x1.5, 60 s, 20 %) the
-- pauses are about 5, 7.5, 11, 17, 25, 38, 57, 60, 60... s: an export that
-- takes 10 minutes is checked 16 to 18 times, and one that takes a minute
-- 6 or 7 times.
--
-- Every pause is scheduler.sleep(), and every check a normal call, so a wait
-- yields inside a task (batchexport.spawn), steps the loop between
-- ngx.sleep()s inside nginx, and blocks anywhere else.
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local options = require("batchexport.options")
local scheduler = require("batchexport.scheduler")

local M = {}

M.DEFAULTS = {
  timeout = nil,        -- no limit: exports take seconds to hours
  interval = 5,         -- first pause, seconds
  max_interval = 60,    -- longest pause, seconds
  backoff = 1.5,        -- each pause is the last one times this
  jitter = 0.2,         -- each pause is shortened by up to this fraction
}

local seconds = { "number", options.positive, "must be a number of seconds greater than 0" }

--- The rules of wait_for's options (batchexport.options); sync takes
-- interval and max_interval too, and passes them on.
M.RULES = {
  -- false, for no limit, is taken out before the check.
  timeout = { "number", options.positive, "must be a number of seconds greater than 0 (or false for no limit)" },
  interval = seconds,
  max_interval = seconds,
  backoff = { "number", function(v) return v >= 1 and v < math.huge end, "must be a number >= 1" },
  jitter = { "number", function(v) return v >= 0 and v < 1 end, "must be a number from 0 to less than 1" },
  progress = { "function" },
}

--- wait.options(opts) -> the options with defaults, or nil, validation error.
-- timeout: seconds (> 0), or nil/false for no limit.
function M.options(given)
  if type(given) == "table" and given.timeout == false then
    local copy = {}
    for k, v in pairs(given) do if k ~= "timeout" then copy[k] = v end end
    given = copy
  end
  local checked, err = options.check(given, M.RULES, "validation", "wait_for")
  if not checked then return nil, err end
  local o = {}
  for k, v in pairs(M.DEFAULTS) do o[k] = v end
  for k, v in pairs(checked) do o[k] = v end
  if o.max_interval < o.interval then
    if checked.max_interval ~= nil then
      return nil, options.error("validation", { "max_interval: must not be less than interval" })
    end
    o.max_interval = o.interval      -- a long interval alone raises the cap with it
  end
  return o
end

--- wait.pauses(opts, rand) -> an iterator over the pauses between checks.
-- rand() gives a number in [0, 1) (math.random by default); the cadence spec
-- drives it with 0 and almost 1 to bound the number of checks.
function M.pauses(o, rand)
  rand = rand or math.random
  local base = o.interval
  return function()
    local pause = base * (1 - o.jitter * rand())
    base = math.min(base * o.backoff, o.max_interval)
    return pause
  end
end

local function fmt_seconds(s)
  if s < 10 then return string.format("%.1f s", s) end
  return string.format("%.0f s", s)
end

--- wait.poll(fetch, classify, opts [, hooks]) -> result, or nil, err
--   fetch() -> value, or nil, err (one status call)
--   classify(value) -> "done", result | "error", err | "wait" [, label]
--   hooks.log(level, message), hooks.what (a name for messages, "export X").
-- Errors from fetch with err.retryable (the call already retried under the
-- client's retry policy) are logged and the wait goes on; others end it.
function M.poll(fetch, classify, opts, hooks)
  local o, err = M.options(opts)
  if not o then return nil, err end
  hooks = hooks or {}
  local log = hooks.log or function() end
  local what = hooks.what or "the export"
  local started = core.now()
  local deadline = o.timeout and started + o.timeout
  local pauses = M.pauses(o)
  local checks, last, last_label, last_error = 0, nil, nil, nil

  local function timed_out()
    local e = errors.new("timeout", string.format("%s %s after %s (%d status check%s)", what,
      last_label and ("is still " .. last_label) or "did not finish", fmt_seconds(core.now() - started),
      checks, checks == 1 and "" or "s"), {
        retryable = true, attempts = checks, export = last, last_error = last_error,
        elapsed = core.now() - started,
      })
    return nil, e
  end

  -- One check, bounded by the deadline (a call still in flight then is
  -- closed, not left behind). Returns "done"/"error", result to end the
  -- wait, "timeout", or nothing to go on (then extra_wait: a Retry-After).
  local function check()
    local finished, value, ferr = scheduler.limit(deadline, fetch)
    if not finished then return "timeout" end
    checks = checks + 1
    if value ~= nil then
      local verdict, result, label = classify(value)
      if verdict == "done" then return "done", result end
      if verdict == "error" then
        if type(result) == "table" and result.attempts == nil then result.attempts = checks end
        return "error", result
      end
      last, last_label, last_error = value, result or label, nil
      if o.progress then o.progress(value) end
      return nil
    elseif type(ferr) == "table" and ferr.retryable then
      last_error = ferr
      log("warn", string.format("waiting for %s: status check failed (%s); still waiting", what, tostring(ferr)))
      return nil, ferr.retry_after
    end
    return "error", ferr or errors.new("decode", "waiting for " .. what .. ": the status check returned nothing")
  end

  local function finish(verdict, result)
    if verdict == "done" then return result end
    if verdict == "error" then return nil, result end
    return timed_out()
  end

  while true do
    local verdict, result = check()
    if verdict then return finish(verdict, result) end
    local pause = pauses()
    if type(result) == "number" and result > pause then pause = result end
    if deadline then
      local left = deadline - core.now()
      if left <= 0 then return timed_out() end
      if pause >= left then
        -- The next check would come after the deadline: make a last one
        -- shortly before it, then give up at the deadline itself.
        scheduler.sleep(left - math.min(1, left / 2))
        verdict, result = check()
        if verdict then return finish(verdict, result) end
        scheduler.sleep(deadline - core.now())
        return timed_out()
      end
    end
    log("debug", string.format("%s is %s; next check in %s", what, tostring(last_label or "unknown"),
      fmt_seconds(pause)))
    scheduler.sleep(pause)
  end
end

local function logger(client)
  return function(level, message)
    if client and client.log then client:log(level, message) end
  end
end

local V2_WAITING = { CREATED = true, PENDING = true, RUNNING = true }

--- wait.export(client, exports_api, id, opts) -> the export once SUCCESS, or
-- nil, err: export_failed (err.export) once ERROR, timeout past opts.timeout,
-- or the error of a status check that cannot succeed by trying again.
function M.export(client, exports_api, id, opts)
  local log = logger(client)
  local warned = false
  local function classify(e)
    local status = type(e) == "table" and e.status
    if status == "SUCCESS" then return "done", e end
    if status == "ERROR" then
      return "error", errors.new("export_failed", "export " .. tostring(id) .. " failed (status ERROR)",
        { export = e })
    end
    if type(status) ~= "string" then
      return "error", errors.new("decode", "export " .. tostring(id) .. ": the view response has no status")
    end
    if not V2_WAITING[status] and not warned then
      warned = true
      log("warn", "export " .. tostring(id) .. " has an unknown status " .. status .. "; still waiting")
    end
    return "wait", status
  end
  return M.poll(function() return exports_api.view(id) end, classify, opts,
    { log = log, what = "export " .. tostring(id) })
end

local LEGACY_WAITING = { CREATED = true, PENDING = true, RUNNING = true }

--- wait.legacy(client, legacy_api, request_id, opts) -> the status table once
-- SUCCESS, or nil, err: export_failed (err.export = the status table, its
-- error_msg in the message) once ERROR, expired once EXPIRED, timeout past
-- opts.timeout.
function M.legacy(client, legacy_api, request_id, opts)
  local log = logger(client)
  local warned = false
  local what = "legacy export request " .. tostring(request_id)
  local function classify(s)
    local status = type(s) == "table" and s.status
    if status == "SUCCESS" then return "done", s end
    if status == "ERROR" then
      local why = s.error_msg
      return "error", errors.new("export_failed", what .. " failed" ..
        ((type(why) == "string" and why ~= "") and (": " .. why) or " (status ERROR)"), { export = s })
    end
    if status == "EXPIRED" then
      return "error", errors.new("expired", what .. " has expired: its file is no longer available; create the export again",
        { export = s })
    end
    if type(status) ~= "string" then
      return "error", errors.new("decode", what .. ": the status response has no status")
    end
    if not LEGACY_WAITING[status] and not warned then
      warned = true
      log("warn", what .. " has an unknown status " .. status .. "; still waiting")
    end
    return "wait", status
  end
  return M.poll(function() return legacy_api.status(request_id) end, classify, opts,
    { log = log, what = what })
end

return M
