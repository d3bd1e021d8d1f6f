-- Random faults for soak tests: once turned on (POST /_mock/chaos), each
-- request that no queued fault matched is faulted with probability `rate`,
-- with a kind drawn among those that make sense for it. Draws come from a
-- hash of the seed and the request's sequence number, so a run is
-- repeatable for a given order of requests, whichever worker serves it.
-- Counters live in the shared dict: GET /_mock/chaos says what was injected.
local json = require("batchmock.json")
local state = require("batchmock.state")

local M = {}
local dict = state.dict

-- Every kind, in the order reports list them, and the hosts it applies to.
M.KINDS = { "cut", "close", "429", "503", "stall", "stall_long", "expired", "ignore_range" }
local STORAGE_ONLY = { cut = true, expired = true, ignore_range = true }
local KNOWN = {}
for _, k in ipairs(M.KINDS) do KNOWN[k] = true end

local DEFAULTS = { seed = 1, stall = 0.2, stall_long = 3, retry_after_max = 1, path = "/" }

local function number_in(v, lo, hi)
  return type(v) == "number" and v == v and v >= lo and v <= hi
end

-- returns the stored settings, or nil, message
local function check(spec)
  local allowed = { rate = true, range_rate = true, seed = true, kinds = true, weights = true, host = true, path = true, stall = true,
    stall_long = true, retry_after_max = true }
  for k in pairs(spec) do
    if not allowed[k] then return nil, "unknown chaos field '" .. tostring(k) .. "'" end
  end
  local c = {}
  for k, v in pairs(DEFAULTS) do c[k] = spec[k] == nil and v or spec[k] end
  c.rate, c.host = spec.rate, spec.host
  if not number_in(c.rate, 0, 1) then return nil, "rate must be a number from 0 to 1" end
  c.range_rate = spec.range_rate == nil and c.rate or spec.range_rate
  if not number_in(c.range_rate, 0, 1) then return nil, "range_rate must be a number from 0 to 1" end
  if not number_in(c.seed, 0, 2 ^ 53) or c.seed % 1 ~= 0 then return nil, "seed must be a non-negative integer" end
  if c.host ~= nil and c.host ~= "api" and c.host ~= "storage" then return nil, "host must be \"api\" or \"storage\"" end
  if type(c.path) ~= "string" or c.path:sub(1, 1) ~= "/" then return nil, "path must be a string starting with /" end
  for _, k in ipairs({ "stall", "stall_long" }) do
    if not number_in(c[k], 0, 600) then return nil, k .. " must be a number of seconds from 0 to 600" end
  end
  if not number_in(c.retry_after_max, 0, 3600) or c.retry_after_max % 1 ~= 0 then
    return nil, "retry_after_max must be a whole number of seconds from 0 to 3600"
  end
  local kinds = spec.kinds
  if kinds == nil then
    kinds = M.KINDS
  elseif type(kinds) ~= "table" or not json.is_array(kinds) or #kinds == 0 then
    return nil, "kinds must be a non-empty array of: " .. table.concat(M.KINDS, ", ")
  end
  c.kinds = json.array()
  for i, k in ipairs(kinds) do
    if not KNOWN[k] then return nil, "kinds[" .. i .. "]: unknown kind '" .. tostring(k) .. "' (known: "
      .. table.concat(M.KINDS, ", ") .. ")" end
    c.kinds[#c.kinds + 1] = k
  end
  c.weights = json.object({}, M.KINDS)
  local weights = spec.weights
  if weights ~= nil and (type(weights) ~= "table" or json.is_array(weights)) then
    return nil, "weights must be an object of kind names to numbers"
  end
  for k, w in pairs(weights or {}) do
    if not KNOWN[k] then return nil, "weights: unknown kind '" .. tostring(k) .. "'" end
    if not number_in(w, 0, 1000) then return nil, "weights." .. k .. " must be a number from 0 to 1000" end
  end
  for _, k in ipairs(c.kinds) do c.weights[k] = weights and weights[k] or 1 end
  return c
end

local function reset_counters()
  dict:set("chaos:seq", 0)
  dict:set("chaos:requests", 0)
  dict:set("chaos:ranges", 0)
  for _, k in ipairs(M.KINDS) do dict:set("chaos:hit:" .. k, 0) end
end

--- Turns chaos on (replacing earlier settings, counters back to 0).
function M.start(spec)
  if type(spec) ~= "table" then return nil, "body must be a JSON object" end
  local c, err = check(spec)
  if not c then return nil, err end
  reset_counters()
  state.put("chaos", c)
  return M.report()
end

--- Turns chaos off; returns the final report.
function M.stop()
  local r = M.report()
  dict:delete("chaos")
  return r
end

--- {on, settings..., requests, ranges (requests with Range), injected = {kind = n}, total}
function M.report()
  local c = state.get("chaos")
  local injected, total = json.object({}, M.KINDS), 0
  for _, k in ipairs(M.KINDS) do
    local n = dict:get("chaos:hit:" .. k) or 0
    injected[k] = n
    total = total + n
  end
  local out = json.object({ on = c ~= nil, requests = dict:get("chaos:requests") or 0,
    ranges = dict:get("chaos:ranges") or 0, injected = injected, total = total }, { "on", "rate", "range_rate", "seed", "kinds", "weights", "host", "path", "stall", "stall_long",
    "retry_after_max", "requests", "ranges", "injected", "total" })
  for k, v in pairs(c or {}) do out[k] = v end
  return out
end

-- A uniform draw in [0, 1) from the seed, the request's number and a salt.
local function draw(c, n, salt)
  local hex = ngx.md5(c.seed .. ":" .. n .. ":" .. salt)
  return tonumber(hex:sub(1, 8), 16) / 4294967296
end

local function applies(kind, host)
  if STORAGE_ONLY[kind] and host ~= "storage" then return false end
  -- Ignoring a Range only means something to a request that sent one.
  if kind == "ignore_range" and not ngx.var.http_range then return false end
  return true
end

-- The fault table for a kind, shaped like a queued fault (faults.lua).
local function fault_for(c, kind, host, n)
  if kind == "cut" then return { cut_at = draw(c, n, "cut") } end
  if kind == "close" then return { close = true } end
  if kind == "429" then
    return { status = 429, retry_after = tostring(math.floor(draw(c, n, "retry") * (c.retry_after_max + 1))) }
  end
  if kind == "503" then return { status = 503 } end
  if kind == "expired" then return { expired = true } end
  if kind == "ignore_range" then return { ignore_range = true } end
  local seconds = kind == "stall" and c.stall or c.stall_long
  -- The API host holds back the whole answer; storage stalls at a random byte.
  if host == "api" then return { delay = seconds } end
  return { stall = seconds, stall_share = draw(c, n, "stall") }
end

--- The random fault for this request on `host`, or nil. Marks the request
-- (ngx.ctx.chaos) so the log shows the kind.
function M.take(host)
  local raw = dict:get("chaos")
  if not raw then return nil end
  local c = json.fast_decode(raw)
  if c.host and c.host ~= host then return nil end
  if ngx.var.uri:sub(1, #c.path) ~= c.path then return nil end
  dict:incr("chaos:requests", 1, 0)
  if ngx.var.http_range then dict:incr("chaos:ranges", 1, 0) end
  local n = dict:incr("chaos:seq", 1, 0)
  -- Resumes (requests with Range) may be faulted at a rate of their own.
  if draw(c, n, "hit") >= (ngx.var.http_range and c.range_rate or c.rate) then return nil end
  local usable, sum = {}, 0
  for _, k in ipairs(c.kinds) do
    if applies(k, host) and c.weights[k] > 0 then
      usable[#usable + 1] = k
      sum = sum + c.weights[k]
    end
  end
  if #usable == 0 then return nil end
  -- a kind drawn in proportion to its weight
  local at, kind = draw(c, n, "kind") * sum, usable[#usable]
  for _, k in ipairs(usable) do
    at = at - c.weights[k]
    if at < 0 then kind = k break end
  end
  dict:incr("chaos:hit:" .. kind, 1, 0)
  ngx.ctx.chaos = kind
  return fault_for(c, kind, host, n)
end

return M
