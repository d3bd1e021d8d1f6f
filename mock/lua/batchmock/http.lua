-- Sending responses. Every API answer goes through `send`, which is where the
-- body-level faults (stall, cut, malformed/truncated JSON, content type) bite.
local json = require("batchmock.json")

local M = {}

local V2_CODES = {
  [400] = "MALFORMED_PARAMETER", [401] = "AUTHENTICATION_INVALID", [403] = "FORBIDDEN",
  [404] = "NOT_FOUND", [405] = "METHOD_NOT_ALLOWED", [409] = "CONFLICT", [429] = "TOO_MANY_REQUESTS",
  [500] = "SERVER_ERROR", [502] = "SERVER_ERROR", [503] = "MAINTENANCE", [504] = "SERVER_ERROR",
}
local V2_MESSAGES = {
  [429] = "Too many requests: slow down and retry later",
  [500] = "An unexpected error occurred",
  [503] = "Batch's services are under maintenance. Please try again later",
}

-- Batch's documented legacy table: name -> {HTTP status, numeric code}
M.LEGACY = {
  AUTHENTICATION_INVALID = { 401, 10 },
  API_MISUSE = { 403, 12 },
  ROUTE_NOT_FOUND = { 404, 20 },
  MISSING_PARAMETER = { 400, 30 },
  MALFORMED_PARAMETER = { 400, 31 },
  MALFORMED_JSON_BODY = { 400, 32 },
  SERVER_ERROR = { 500, 1 },
  MAINTENANCE_ERROR = { 503, 2 },
}
local LEGACY_BY_STATUS = {
  [400] = "MALFORMED_PARAMETER", [401] = "AUTHENTICATION_INVALID", [403] = "API_MISUSE",
  [404] = "ROUTE_NOT_FOUND", [500] = "SERVER_ERROR", [503] = "MAINTENANCE_ERROR",
}

local function corrupt(body)
  -- still a complete HTTP response, but not JSON any more
  local out, n = body:gsub(":", "=", 1)
  if n == 0 then out = "{" .. body end
  return out
end

function M.send(status, body, headers)
  body = body or ""
  headers = headers or {}
  local f = ngx.ctx.fault
  if f then
    if f.malformed_json then body = corrupt(body) end
    if f.truncate_json then body = body:sub(1, math.floor(#body / 2)) end
    if f.content_type then headers["Content-Type"] = f.content_type end
  end
  ngx.status = status
  for k, v in pairs(headers) do ngx.header[k] = v end
  ngx.header["Content-Length"] = #body
  if f and f.stall then
    ngx.send_headers()
    ngx.flush(true)
    ngx.sleep(f.stall)
  end
  if f and f.cut_after then
    ngx.print(body:sub(1, f.cut_after))
    ngx.flush(true)
    -- finalising with an error closes the connection mid-body
    return ngx.exit(ngx.ERROR)
  end
  ngx.print(body)
  return ngx.exit(ngx.HTTP_OK)
end

function M.json(status, value, headers)
  headers = headers or {}
  headers["Content-Type"] = headers["Content-Type"] or "application/json; charset=utf-8"
  return M.send(status, json.encode(value), headers)
end

function M.v2_error(status, code, message, headers)
  return M.json(status, json.object({
    error_message = message or V2_MESSAGES[status] or ("HTTP " .. status),
    error_code = code or V2_CODES[status] or "SERVER_ERROR",
  }, { "error_message", "error_code" }), headers)
end

function M.legacy_error(name, message, status, headers)
  local entry = M.LEGACY[name]
  status = status or (entry and entry[1]) or 500
  return M.json(status, {
    error = json.object({
      code = entry and entry[2] or 1,
      name = name,
      message = message,
    }, { "code", "name", "message" }),
  }, headers)
end

-- The error body a fault with only a status uses, shaped like the route's API.
function M.default_error(family, status, headers)
  if family == "legacy" then
    local name = LEGACY_BY_STATUS[status] or (status >= 500 and "SERVER_ERROR" or "API_MISUSE")
    local msgs = { [429] = "Too many requests", [503] = "Maintenance in progress, try again later" }
    return M.legacy_error(name, msgs[status] or ("HTTP " .. status), status, headers)
  end
  return M.v2_error(status, V2_CODES[status], nil, headers)
end

-- Body of a POST as a string (nginx may have buffered a large one to disk).
function M.body()
  ngx.req.read_body()
  local data = ngx.req.get_body_data()
  if data then return data end
  local file = ngx.req.get_body_file()
  if not file then return nil end
  local fh = io.open(file, "rb")
  if not fh then return nil end
  data = fh:read("*a")
  fh:close()
  return data
end

function M.is_json_content_type()
  local ct = ngx.var.http_content_type
  if not ct then return false end
  ct = ct:lower()
  return ct == "application/json" or ct:match("^application/json%s*;") ~= nil
end

return M
