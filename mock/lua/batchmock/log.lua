-- Request log: what a test needs to prove connection reuse and that no
-- credential reached storage. Header presence only, never a value.
local json = require("batchmock.json")
local state = require("batchmock.state")

local M = {}
local logdict = state.logdict
local MAX = 200000

function M.record()
  local ruri = ngx.var.request_uri or ""
  if ruri:sub(1, 7) == "/_mock/" then return end
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
    time = ngx.req.start_time(),
  }
  if (logdict:llen("log") or 0) >= MAX then logdict:lpop("log") end
  logdict:rpush("log", json.fast_encode(entry))
end

local ORDER = { "host", "method", "path", "query", "authorization", "x_authorization", "x_batch_project",
  "connection", "connection_requests", "status", "bytes_sent", "range", "time" }

function M.entries()
  -- shared-dict lists can only be popped, so read by popping and pushing back
  local n = logdict:llen("log") or 0
  local out = json.array()
  for _ = 1, n do
    local raw = logdict:lpop("log")
    if not raw then break end
    logdict:rpush("log", raw)
    local e = json.fast_decode(raw)
    out[#out + 1] = json.object(e, ORDER)
  end
  return out
end

function M.clear()
  logdict:delete("log")
end

return M
