-- API host entry point: apply a queued fault, then dispatch to the legacy
-- (/1.0/{API_KEY}/export/...) or v2 (/{N.N}/...) routes.
local http = require("batchmock.http")
local faults = require("batchmock.faults")
local chaos = require("batchmock.chaos")

local M = {}

function M.handle()
  require("batchmock.log").begin()
  local uri = ngx.var.uri
  local api_key, legacy_rest = uri:match("^/1%.0/([^/]+)/export/(.*)$")
  local family = api_key and "legacy" or "v2"

  local f = faults.take("api") or chaos.take("api")
  if f then
    ngx.ctx.fault = f
    if f.delay then ngx.sleep(f.delay) end
    if f.close then return ngx.exit(444) end
    if f.endless then return faults.send_endless(f) end
    if f.status then
      local headers = faults.headers(f)
      if f.body then
        headers["Content-Type"] = "application/json; charset=utf-8"
        return http.send(f.status, faults.body(f), headers)
      end
      return http.default_error(family, f.status, headers)
    end
  end

  if api_key then return require("batchmock.legacy").handle(api_key, legacy_rest) end
  local version, rest = uri:match("^/(%d+%.%d+)/(.+)$")
  if version then return require("batchmock.v2").handle(version, rest) end
  return http.v2_error(404, "ROUTE_NOT_FOUND", "no such route: " .. uri .. " (v2 routes live under /{version}/, e.g. /2.11/exports/list; legacy under /1.0/{API_KEY}/export/)")
end

return M
