-- The storage origin download links point to. access_by_lua checks the
-- signature and expiry (in mock time) and applies faults; the bytes then come
-- from nginx's static module (sendfile, native Range/206). Only faults that
-- must shape the body (stall, cut, ignore_range, ...) are served from Lua.
local state = require("batchmock.state")
local clock = require("batchmock.clock")
local faults = require("batchmock.faults")
local chaos = require("batchmock.chaos")
local generator = require("batchmock.generator")

local M = {}

local function xml_error(status, code, message, headers)
  ngx.status = status
  ngx.header["Content-Type"] = "application/xml"
  for k, v in pairs(headers or {}) do ngx.header[k] = v end
  local body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' .. code .. "</Code><Message>"
    .. message .. "</Message></Error>\n"
  ngx.header["Content-Length"] = #body
  ngx.print(body)
  return ngx.exit(status)
end
M.xml_error = xml_error

local CONTENT_TYPES = { ndjson = "application/x-ndjson", json = "application/json", gz = "application/gzip", csv = "text/csv; charset=utf-8" }

local function content_type(name)
  return CONTENT_TYPES[name:match("%.(%w+)$")] or "application/octet-stream"
end

-- Single-range requests only; anything else is answered with the whole file.
local function parse_range(h, size)
  if not h then return nil end
  local a, b = h:match("^bytes=(%d*)%-(%d*)$")
  if not a or (a == "" and b == "") then return nil end
  local first, last
  if a == "" then
    first, last = math.max(size - tonumber(b), 0), size - 1
  else
    first = tonumber(a)
    last = b == "" and size - 1 or math.min(tonumber(b), size - 1)
  end
  if first > last or first >= size then return false end
  return first, last
end

-- The Lua path: whole file or one range, with the fault's body effects.
local function serve_lua(path, name, f)
  local fh = io.open(path, "rb")
  if not fh then return xml_error(404, "NoSuchKey", "The specified key does not exist.") end
  local size = fh:seek("end")
  local first, last = 0, size - 1
  local status = 200
  if not f.ignore_range then
    local a, b = parse_range(ngx.var.http_range, size)
    if a == false then
      fh:close()
      return xml_error(416, "InvalidRange", "The requested range is not satisfiable", { ["Content-Range"] = "bytes */" .. size })
    elseif a then
      first, last, status = a, b, 206
      ngx.header["Content-Range"] = string.format("bytes %d-%d/%d", a, b, size)
    end
  end
  ngx.status = status
  ngx.header["Content-Type"] = f.content_type or content_type(name)
  ngx.header["Accept-Ranges"] = "bytes"
  local length = last - first + 1
  ngx.header["Content-Length"] = length
  ngx.send_headers()
  ngx.flush(true)
  -- cut_at and stall_share (chaos) are fractions of this answer's body.
  local cut_after = f.cut_after or (f.cut_at and math.floor(f.cut_at * length))
  local limit = cut_after and math.min(cut_after, length) or length
  local stall_at = f.stall and (f.stall_at or (f.stall_share and math.floor(f.stall_share * limit)) or 0)
  fh:seek("set", first)
  local sent = 0
  if stall_at == 0 then ngx.sleep(f.stall) end
  if ngx.req.get_method() ~= "HEAD" then
    while sent < limit do
      -- stop at the stall's byte, hold back, then go on
      local upto = stall_at and sent < stall_at and stall_at or limit
      local chunk = fh:read(math.min(65536, upto - sent))
      if not chunk then break end
      if f.malformed_json and sent == 0 then chunk = "\0" .. chunk:sub(2) end
      if f.truncate_json and sent + #chunk >= limit then chunk = chunk:sub(1, -2) .. "\0" end
      ngx.print(chunk)
      sent = sent + #chunk
      local ok = ngx.flush(true)
      if not ok then break end
      if sent == stall_at then ngx.sleep(f.stall) end
    end
  end
  fh:close()
  if cut_after and cut_after < length then return ngx.exit(ngx.ERROR) end
  return ngx.exit(ngx.HTTP_OK)
end

function M.access()
  require("batchmock.log").begin()
  local uri = ngx.var.uri
  local fid, name = uri:match("^/exports/([^/]+)/([^/]+)$")
  local f = faults.take("storage") or chaos.take("storage")
  if f then
    if f.delay then ngx.sleep(f.delay) end
    if f.close then return ngx.exit(444) end
    if f.endless then return faults.send_endless(f) end
    if f.expired then return xml_error(403, "AccessDenied", "Request has expired") end
    if f.status then
      if f.body then
        local body = faults.body(f)
        ngx.status = f.status
        ngx.header["Content-Type"] = f.content_type or "text/plain"
        for k, v in pairs(faults.headers(f)) do ngx.header[k] = v end
        ngx.header["Content-Length"] = #body
        ngx.print(body)
        return ngx.exit(f.status)
      end
      local codes = { [403] = "AccessDenied", [404] = "NoSuchKey", [429] = "SlowDown", [500] = "InternalError", [503] = "ServiceUnavailable" }
      return xml_error(f.status, codes[f.status] or "Error", "Injected fault", faults.headers(f))
    end
  end
  if not fid then return xml_error(404, "NoSuchKey", "The specified key does not exist.") end
  local spec = state.get("f:" .. fid)
  if not spec or spec.diskname ~= name then return xml_error(404, "NoSuchKey", "The specified key does not exist.") end
  local args = ngx.req.get_uri_args()
  local expires, sig = args.Expires, args.Signature
  if type(expires) ~= "string" or type(sig) ~= "string" or not expires:match("^%d+$") then
    return xml_error(403, "AccessDenied", "Query-string authentication requires the Signature and Expires parameters")
  end
  local v2 = require("batchmock.v2")
  if v2.sign(uri, expires) ~= ngx.escape_uri(sig) then
    return xml_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
  end
  if clock.now() > tonumber(expires) then
    return xml_error(403, "AccessDenied", "Request has expired")
  end
  local meta, err = generator.ensure(spec)
  if not meta then return xml_error(500, "InternalError", "could not generate the file: " .. tostring(err)) end
  local path = generator.path(spec)
  if f and (f.stall or f.cut_after or f.cut_at or f.ignore_range or f.malformed_json or f.truncate_json or f.content_type) then
    return serve_lua(path, name, f)
  end
  return ngx.exec("/_files/" .. spec.diskname)
end

function M.not_found()
  require("batchmock.log").begin()
  local f = faults.take("storage")
  if f and f.close then return ngx.exit(444) end
  return xml_error(404, "NoSuchKey", "The specified key does not exist.")
end

return M
