--- batchexport.request: one HTTP call with the retry policy every request
-- shares. Exponential backoff with full jitter, capped, honouring
-- Retry-After. GETs are retried on connection failures, timeouts, 429, 500,
-- 502, 503 and 504; a POST only where the server cannot have acted on it:
-- 429, 503, or a connection that failed before the request was sent.
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local json = require("batchexport.json")
local options = require("batchexport.options")
local scheduler = require("batchexport.scheduler")

local M = {}

--- Statuses the calls accept.
M.OK_GET = { [200] = true }
M.OK_CREATE = { [200] = true, [201] = true, [202] = true }
M.OK_REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

--- request.api_table(client, key...) -> a table for an API's functions;
-- the helper that lets them be called both as api.view(id) and
-- api:view(id); and needs_keys() -> the config error when the client lacks
-- a key this API signs with, else nil.
function M.api_table(client, ...)
  local api, keys = {}, { ... }
  local function args(first, ...)
    if first == api then return ... end
    return first, ...
  end
  local function needs_keys()
    return client:need((table.unpack or unpack)(keys))
  end
  return api, args, needs_keys
end

local RETRY_GET = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }
local RETRY_POST = { [429] = true, [503] = true }

--- Seconds to wait from a Retry-After value (delta-seconds or HTTP-date),
-- an integer from 0 to a year, or nil when the value is neither: parsed in
-- C (csrc/headers.c), bounded in length and in result.
function M.retry_after(value)
  if type(value) ~= "string" then return nil end
  return core.retry_after(value, os.time())
end

---------------------------------------------------------------------------
-- Deadlines. A call's `deadline` option (or the client's) bounds the whole
-- call: each attempt, the waits between attempts, resumes and link
-- refreshes. request.call() gives the call its context, the client seen
-- with `deadline_at` set; everything below takes that context where it
-- takes a client, gives each transfer at most the time left, and ends the
-- call with a `timeout` error once no time is left.

-- Left this close to the deadline, an attempt cannot do anything useful;
-- also absorbs curl's timer granularity.
local DEADLINE_SLACK = 0.01

--- request.call(client [, seconds]) -> the call's context: the client
-- itself when there is no deadline (neither `seconds` nor the client's
-- `deadline`), else a view of it whose deadline_at is now + seconds.
function M.call(client, seconds)
  seconds = seconds or client.deadline
  if not seconds then return client end
  return setmetatable({ deadline = seconds, deadline_at = core.now() + seconds }, { __index = client })
end

--- request.time_left(c) -> seconds before c's deadline, or nil without one.
function M.time_left(c)
  return c.deadline_at and c.deadline_at - core.now()
end

local function out_of_time(c)
  local left = M.time_left(c)
  return left ~= nil and left <= DEADLINE_SLACK
end

--- request.deadline_error(c [, cause]) -> the timeout error of a call past
-- its deadline; cause, an error or a sentence, says what it was doing.
function M.deadline_error(c, cause, fields)
  local why = type(cause) == "table" and cause.message or cause
  fields = fields or {}
  fields.deadline = c.deadline
  if type(cause) == "table" then
    fields.last_error = cause
    fields.status = fields.status or cause.status
    fields.attempts = fields.attempts or cause.attempts
  end
  return errors.new("timeout", string.format("the call's deadline (%g s) passed%s", c.deadline,
    why and (": " .. why) or ""), fields)
end

--- request.limit_spec(c, spec [, cause]) -> spec with the transfer's time cut
-- to what is left (spec.deadline_ms), or nil, err when nothing is; cause, the
-- failure this attempt follows, goes into err (its status, its attempts).
function M.limit_spec(c, spec, cause)
  local left = M.time_left(c)
  if not left then return spec end
  if left <= DEADLINE_SLACK then return nil, M.deadline_error(c, cause) end
  spec.deadline_ms = math.ceil(left * 1000)
  return spec
end

--- request.sleep(c, seconds [, cause]) -> true after the pause, or nil, err
-- at once when the pause would end past c's deadline.
function M.sleep(c, seconds, cause)
  local left = M.time_left(c)
  if left and seconds >= left - DEADLINE_SLACK then
    return nil, M.deadline_error(c, cause)
  end
  scheduler.sleep(seconds)
  return true
end

--- request.take_deadline(opts) -> deadline or nil, the other options; or
-- nil, nil, a validation error. For calls whose options another module
-- checks (wait_for).
function M.take_deadline(opts)
  if type(opts) ~= "table" or opts.deadline == nil then return nil, opts end
  local _, err = options.check({ deadline = opts.deadline }, { deadline = options.DEADLINE }, "validation")
  if err then return nil, nil, err end
  local rest = {}
  for k, v in pairs(opts) do if k ~= "deadline" then rest[k] = v end end
  return opts.deadline, rest
end

--- request.wait(c, run, opts) -> run(opts) with opts.timeout cut to the
-- time left before c's deadline; a wait ended by the deadline says so.
function M.wait(c, run, opts)
  local left = M.time_left(c)
  if not left or type(opts) ~= "table" and opts ~= nil then return run(opts) end
  if left <= DEADLINE_SLACK then return nil, M.deadline_error(c) end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.timeout == nil or o.timeout == false or (type(o.timeout) == "number" and o.timeout > left) then
    o.timeout = left
  end
  local result, err = run(o)
  if result == nil and errors.is(err, "timeout") and out_of_time(c) and not err.deadline then
    err.message = string.format("the call's deadline (%g s) passed: %s", c.deadline, err.message)
    err.deadline = c.deadline
  end
  return result, err
end

--- Full jitter: a random wait between 0 and the capped exponential step.
function M.backoff(policy, attempt)
  local step = math.min(policy.backoff_max, policy.backoff_base * 2 ^ (attempt - 1))
  return math.random() * step
end

local function printable(s, max)
  s = s:sub(1, max):gsub("[%c]", " ")
  return s
end

-- A Batch error body: v2 sends {error_message, error_code}; the 1.0 shape is
-- not documented, so look for a code and a message under the usual names.
local function batch_error(body)
  local doc = body and body ~= "" and json.decode(body)
  if type(doc) ~= "table" then return nil end
  local inner = type(doc.error) == "table" and doc.error or doc
  local message = inner.error_message or inner.message or inner.errorMessage or inner.error_msg
    or (type(doc.error) == "string" and doc.error) or doc.error_message or doc.message
  local code = inner.error_code or inner.code or inner.errorCode or doc.error_code or doc.code
  local name = inner.name or inner.error_name or inner.type
  if message == nil and code == nil then return nil end
  return { message = message and tostring(message), code = code, name = name }
end

local function transport_error(res, method)
  local e = res.error
  local kind = e.kind == "timeout" and "timeout" or "network"
  local message = e.message
  local retryable
  if e.kind == "tls" then
    message = "TLS verification failed: " .. message
    retryable = false
  elseif e.kind == "too_large" or e.kind == "config" or e.kind == "write" or e.kind == "cancelled" then
    retryable = false
  elseif method == "POST" then
    retryable = not e.sent
  else
    retryable = true
  end
  if e.kind == "too_large" then kind = "http" end
  return errors.new(kind, message, { retryable = retryable, status = res.status ~= 0 and res.status or nil })
end

-- An error body is shown as an excerpt of 200 characters, masked before it
-- is cut: a key that starts inside the excerpt ends inside the window masked
-- (the longest key the client takes is MAX_SECRET).
local EXCERPT = 200
local MASK_WINDOW = EXCERPT + require("batchexport.client").MAX_SECRET

local function status_error(res, method, client)
  local retry = (method == "POST" and RETRY_POST or RETRY_GET)[res.status] or false
  local found = batch_error(res.body)
  if found then
    local message = found.message or ("HTTP " .. res.status)
    if found.name and found.name ~= found.code then message = found.name .. ": " .. message end
    return errors.new("api", message, { status = res.status, code = found.code, retryable = retry })
  end
  local snippet = res.body and res.body ~= "" and
    (": " .. printable(client:redact(res.body:sub(1, MASK_WINDOW)), EXCERPT)) or ""
  return errors.new("http", "unexpected HTTP status " .. res.status .. snippet,
    { status = res.status, retryable = retry })
end

--- Classifies a finished transfer of the client's: nil when the status is
-- one the caller expects, else an error object.
function M.check(res, method, expect, client)
  if res.error then return transport_error(res, method) end
  if expect[res.status] then return nil end
  return status_error(res, method, client)
end

local function describe(method, res)
  return method .. " " .. res.url
end

--- request.perform(c, spec, expect [, tick]) -> result, or nil, err.
-- c is a client or a call's context (request.call); spec is the table
-- client.core:request() takes; expect a set of statuses.
function M.perform(client, spec, expect, tick)
  local policy = client.policy
  local method = spec.method or "GET"
  local attempt = 0
  while true do
    attempt = attempt + 1
    local closed = client:check_open() or scheduler.cannot_wait()
    if closed then return nil, closed end
    local _, late = M.limit_spec(client, spec)
    if late then
      late.attempts = attempt - 1
      return nil, late
    end
    local transfer = client.core:request(spec)
    scheduler.own(transfer)
    scheduler.await(transfer, tick and function() tick(transfer) end)
    local res = transfer:result()
    transfer:close()
    local err = M.check(res, method, expect, client)
    client:log(err and "warn" or "debug", string.format("%s -> %s in %.0f ms (attempt %d%s)",
      describe(method, res), err and tostring(err.status or err.message) or res.status,
      res.time * 1000, attempt, res.reused and not err and ", reused connection" or ""))
    if not err then return res, attempt end
    err.request = describe(method, res)
    err.request_id = res.headers and (res.headers["x-request-id"] or res.headers["x-batch-request-id"])
    local wait = err.retryable and M.retry_after(res.headers and res.headers["retry-after"])
    err.attempts = attempt
    if wait then err.retry_after = wait end
    if out_of_time(client) then return nil, M.deadline_error(client, err, { request = err.request }) end
    if not (err.retryable and attempt < policy.max_attempts and (not wait or wait <= policy.max_retry_after)) then
      return nil, err
    end
    local slept, cut = M.sleep(client, wait or M.backoff(policy, attempt), err)
    if not slept then
      cut.request = err.request
      return nil, cut
    end
  end
end

--- request.resumer(c, label [, can_restart]) -> resume(res, bytes): the
-- retry policy for the storage transfers of one file, which resume where
-- they stopped. Call resume() after a transfer that did not deliver the
-- whole file, with its result and the bytes of the file held so far. It
-- returns "resume" (go on from those bytes), "refresh" (the link expired:
-- get a fresh one, then go on), "restart" (the server ignored Range: start
-- again from byte 0; only for a caller that can_restart, such as a save to
-- disk), or nil, err once it is no use trying again; with a step, the
-- failure it answers, for the next attempt's deadline error. Bytes gained
-- since the last failure reset the count of attempts.
function M.resumer(client, label, can_restart)
  local attempts, mark, restarted = 0, 0, false
  return function(res, bytes)
    if bytes > mark then mark, attempts = bytes, 0 end
    attempts = attempts + 1
    local e, refresh, restart = res.error, false, false
    local err
    if e and e.kind == "range_ignored" then
      restart = can_restart == true
      restarted = restarted or restart
      err = errors.new("network", "the storage server ignored the Range request, so the file cannot resume",
        { status = res.status, retryable = restart })
    elseif e and e.kind == "write" then
      err = errors.new("config", "cannot write the file: " .. e.message)
    elseif res.status == 403 then
      refresh = true
      err = errors.new("http", "storage refused the link (expired?)", { status = 403, retryable = true })
    else
      err = M.check(res, "GET", { [200] = true, [206] = true }, client)
        or errors.new("network", "the connection closed before the end of the file", { retryable = true })
    end
    err.message = label .. ": " .. err.message .. " at byte " .. bytes
    client:log("warn", string.format("%s (attempt %d)", err.message, attempts))
    err.attempts = attempts
    if out_of_time(client) then return nil, M.deadline_error(client, err) end
    if not err.retryable or attempts >= client.policy.max_attempts then
      if restarted and not (e and e.kind == "range_ignored") then
        err.message = err.message .. " (the server ignores Range: each attempt started again from byte 0)"
      end
      return nil, err
    end
    local slept, cut = M.sleep(client, M.backoff(client.policy, attempts), err)
    if not slept then return nil, cut end
    return restart and "restart" or refresh and "refresh" or "resume", err
  end
end

--- request.json(c, spec, expect) -> decoded body, or nil, err
function M.json(client, spec, expect)
  local res, attempts = M.perform(client, spec, expect)
  if not res then return nil, attempts end
  local doc, why = json.decode(res.body or "")
  if type(doc) ~= "table" then
    return nil, errors.new("decode", "the response is not a JSON object: " .. tostring(why or type(doc)),
      { status = res.status, attempts = attempts, request = describe(spec.method or "GET", res) })
  end
  return doc, res, attempts
end

--- request.document(c, spec, check, ...) -> check(doc, ...) of the JSON
-- answer to a GET (or a POST: a create), or nil, err (a refusal of check's
-- carries the answer's status); the response as third value.
function M.document(client, spec, check, ...)
  spec.headers = { "Accept: application/json" }
  local doc, res = M.json(client, spec, spec.method == "POST" and M.OK_CREATE or M.OK_GET)
  if not doc then return nil, res end
  local value, err = check(doc, ...)
  if value == nil then err.status = res.status end
  return value, err, res
end

--- request.resolve(c, target, check, fetch) -> the document a call works
-- on: target itself when it is a table as an earlier call returned it
-- (checked again by check: it may have been changed since), else
-- fetch(c, target) for an id; or nil, err.
function M.resolve(client, target, check, fetch)
  if type(target) == "table" then return check(target) end
  return fetch(client, target)
end

--- request.create(c, spec, body, check) -> check(doc) of the answer to body
-- POSTed as JSON to spec's route (a create, both APIs), or nil, err.
function M.create(client, spec, body, check)
  local text, why = json.encode(body)
  if not text then return nil, errors.new("validation", "cannot encode the request as JSON: " .. tostring(why)) end
  spec.method, spec.body, spec.content_type = "POST", text, "application/json"
  return M.document(client, spec, check)
end

return M
