-- Queued faults: matched by host, method and path prefix, each consumed by the
-- next N matching requests. Counters live in the shared dict so "the next N"
-- holds across workers.
local json = require("batchmock.json")
local state = require("batchmock.state")

local M = {}
local dict = state.dict

local ACTIONS = {
  status = "integer", body = "string", retry_after = "retry", retry_after_date = "number",
  delay = "number", stall = "number", stall_at = "integer", close = "boolean", cut_after = "integer",
  malformed_json = "boolean", truncate_json = "boolean", content_type = "string", ignore_range = "boolean",
  headers = "table", endless = "boolean", expired = "boolean", body_repeat = "integer", body_tail = "string",
}
-- body_repeat builds bodies up to this size (the control request that
-- asks for one stays small).
local MAX_REPEATED = 64 * 1024 * 1024
local MATCHERS = { host = true, method = true, path = true, times = true }

--- The body a fault answers with: `body`, `body_repeat` times over, then
-- `body_tail`.
function M.body(f)
  return string.rep(f.body, f.body_repeat or 1) .. (f.body_tail or "")
end

-- returns the stored fault or nil, message
function M.add(spec)
  if type(spec) ~= "table" then return nil, "body must be a JSON object" end
  local f = { host = spec.host or "api", method = spec.method, path = spec.path or "/", times = spec.times or 1 }
  if f.host ~= "api" and f.host ~= "storage" then return nil, "host must be \"api\" or \"storage\"" end
  if f.method ~= nil and type(f.method) ~= "string" then return nil, "method must be a string" end
  if f.method then f.method = f.method:upper() end
  if type(f.path) ~= "string" or f.path:sub(1, 1) ~= "/" then return nil, "path must be a string starting with /" end
  if type(f.times) ~= "number" or f.times < 1 or f.times % 1 ~= 0 then return nil, "times must be an integer >= 1" end
  local any = false
  for k, v in pairs(spec) do
    local kind = ACTIONS[k]
    if not kind and not MATCHERS[k] then return nil, "unknown fault field '" .. tostring(k) .. "'" end
    if kind then
      local ok
      if kind == "integer" then ok = type(v) == "number" and v >= 0 and v % 1 == 0
      elseif kind == "number" then ok = type(v) == "number" and v >= 0
      elseif kind == "retry" then ok = type(v) == "string" or (type(v) == "number" and v >= 0)
      elseif kind == "table" then
        ok = type(v) == "table"
        for hk, hv in pairs(ok and v or {}) do
          if type(hk) ~= "string" or type(hv) ~= "string" then ok = false end
        end
      else ok = type(v) == kind end
      if not ok then return nil, "fault field '" .. k .. "' must be " .. (kind == "retry" and "a string or a number"
        or kind == "table" and "an object of header names to strings" or ("a non-negative " .. kind)) end
      if v ~= false then any = true end
      f[k] = v
    end
  end
  if not any then return nil, "a fault needs at least one of: " .. "status, body, retry_after, retry_after_date, delay, stall, close, cut_after, malformed_json, truncate_json, content_type, ignore_range, headers, endless, expired" end
  if f.stall_at and not f.stall then return nil, "stall_at needs stall (the seconds to hold back)" end
  if (f.body_repeat or f.body_tail) and not f.body then return nil, "body_repeat and body_tail need body" end
  if f.body_repeat and (f.body_repeat < 1 or f.body_repeat * #f.body > MAX_REPEATED) then
    return nil, "body_repeat must be at least 1, and the body it makes at most " .. MAX_REPEATED .. " bytes"
  end
  if f.status and (f.status < 100 or f.status > 599) then return nil, "status must be an HTTP status (100..599)" end
  if type(f.retry_after) == "number" then f.retry_after = tostring(math.floor(f.retry_after)) end
  f.id = state.incr("fault:seq")
  state.put("fault:" .. f.id, f)
  dict:set("fault:" .. f.id .. ":left", f.times)
  return f
end

function M.list()
  local out = json.array()
  local min = dict:get("fault:min") or 1
  local seq = dict:get("fault:seq") or 0
  for id = min, seq do
    local left = dict:get("fault:" .. id .. ":left")
    if left and left > 0 then
      local f = state.get("fault:" .. id)
      if f then f.remaining = left; out[#out + 1] = f end
    end
  end
  return out
end

function M.clear()
  dict:set("fault:min", (dict:get("fault:seq") or 0) + 1)
end

-- Consume and return the first pending fault matching this request, if any.
function M.take(host)
  local seq = dict:get("fault:seq")
  if not seq then return nil end
  local min = dict:get("fault:min") or 1
  if seq < min then return nil end
  local method = ngx.req.get_method()
  local path = ngx.var.uri
  for id = min, seq do
    local key = "fault:" .. id .. ":left"
    local left = dict:get(key)
    if left and left > 0 then
      local f = state.get("fault:" .. id)
      if f and f.host == host and (not f.method or f.method == method)
          and path:sub(1, #f.path) == f.path then
        local now_left = dict:incr(key, -1)
        if now_left and now_left >= 0 then return f end
      end
    end
  end
  return nil
end

-- The headers a faulted answer carries: Retry-After and the fault's own.
function M.headers(f)
  local h = { ["Retry-After"] = M.retry_after(f) }
  for k, v in pairs(f.headers or {}) do h[k] = v end
  return h
end

-- A body that never ends (a hostile server): the status and headers, then
-- 64 KiB chunks of f.body (or "x") until the client goes away. Bounded at
-- 64 GiB so a client that reads forever still ends the request one day.
function M.send_endless(f)
  ngx.status = f.status or 200
  for k, v in pairs(M.headers(f)) do ngx.header[k] = v end
  ngx.header["Content-Type"] = f.content_type or "application/octet-stream"
  local unit = f.body and f.body ~= "" and f.body or "x"
  local chunk = unit:rep(math.ceil(65536 / #unit)):sub(1, 65536)
  for _ = 1, 1024 * 1024 do
    ngx.print(chunk)
    if not ngx.flush(true) then break end
  end
  return ngx.exit(ngx.OK)
end

function M.retry_after(f)
  if f.retry_after then return f.retry_after end
  if f.retry_after_date then return ngx.http_time(math.floor(ngx.time() + f.retry_after_date)) end
  return nil
end

return M
