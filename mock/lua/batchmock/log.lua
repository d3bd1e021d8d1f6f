-- Request log: what a test needs to prove connection reuse and that no
-- credential reached storage. Header presence only, never a value.
-- An entry's number is taken when the request starts (`begin`) and filled
-- in by log_by_lua after the response is sent; a reader waits briefly for
-- numbers still being filled, so a test that reads the log right after a
-- response, possibly through another worker, sees that request.
local json = require("batchmock.json")
local state = require("batchmock.state")

local M = {}
local logdict = state.logdict
local MAX = 100000

local function slot_key()
  return "r:" .. ngx.var.connection .. ":" .. ngx.var.connection_requests
end

function M.begin()
  if ngx.req.is_internal() then return end
  local n = logdict:incr("seq", 1, 0)
  logdict:set(slot_key(), n, 600)
end

function M.record()
  local ruri = ngx.var.request_uri or ""
  if ruri:sub(1, 7) == "/_mock/" then return end
  local key = slot_key()
  local n = logdict:get(key)
  logdict:delete(key)
  local path, query = ruri:match("^([^?]*)%??(.*)$")
  local entry = {
    host = ngx.var.mock_host,
    method = ngx.req.get_method(),
    path = path,
    query = query,
    authorization = ngx.var.http_authorization ~= nil,
    x_authorization = ngx.var.http_x_authorization ~= nil,
    x_batch_project = ngx.var.http_x_batch_project ~= nil,
    connection = tonumber(ngx.var.connection),
    connection_requests = tonumber(ngx.var.connection_requests),
    status = tonumber(ngx.var.status),
    bytes_sent = tonumber(ngx.var.bytes_sent),
    range = ngx.var.http_range or json.null,
    chaos = ngx.ctx.chaos or json.null,
    time = ngx.req.start_time(),
  }
  n = n or logdict:incr("seq", 1, 0)
  logdict:set("e:" .. n, json.fast_encode(entry))
  if n > MAX then logdict:delete("e:" .. (n - MAX)) end
end

local ORDER = { "host", "method", "path", "query", "authorization", "x_authorization", "x_batch_project",
  "connection", "connection_requests", "status", "bytes_sent", "range", "chaos", "time" }

function M.entries()
  local seq = logdict:get("seq") or 0
  local min = math.max(logdict:get("min") or 1, seq - MAX + 1)
  local out = json.array()
  local deadline = ngx.now() + 0.5
  for i = min, seq do
    local raw = logdict:get("e:" .. i)
    while not raw and ngx.now() < deadline and (logdict:get("min") or 1) <= i do
      ngx.sleep(0.005)
      raw = logdict:get("e:" .. i)
    end
    if raw then out[#out + 1] = json.object(json.fast_decode(raw), ORDER) end
  end
  return out
end

function M.clear()
  local seq = logdict:get("seq") or 0
  local min = logdict:get("min") or 1
  logdict:set("min", seq + 1)
  for i = math.max(min, seq - MAX + 1), seq do logdict:delete("e:" .. i) end
end

return M
