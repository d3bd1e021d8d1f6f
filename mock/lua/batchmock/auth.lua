-- Credentials. v2: `Authorization: Bearer <rest key>` and `X-Batch-Project`;
-- legacy: `X-Authorization: <rest key>` and the API key in the path.
local state = require("batchmock.state")
local http = require("batchmock.http")

local M = {}

local function header(name)
  local v = ngx.req.get_headers()[name]
  if type(v) == "table" then return nil end -- repeated header: ambiguous, reject
  return v
end

function M.v2()
  local cfg = state.cfg()
  local authz = header("authorization")
  if not authz then
    return false, http.v2_error(401, "AUTHENTICATION_INVALID", "Missing Authorization header (expected: Bearer <REST API key>)")
  end
  local key = authz:match("^[Bb]earer +(.+)$")
  if not key then
    return false, http.v2_error(401, "AUTHENTICATION_INVALID", "Authorization header must use the Bearer scheme")
  end
  local project = header("x-batch-project")
  if not project then
    return false, http.v2_error(401, "AUTHENTICATION_INVALID", "Missing X-Batch-Project header")
  end
  if key ~= cfg.rest_key or project ~= cfg.project_key then
    return false, http.v2_error(401, "AUTHENTICATION_INVALID", "The REST API key is not valid for this project")
  end
  return true
end

function M.legacy(api_key)
  local cfg = state.cfg()
  local key = header("x-authorization")
  if not key then
    return false, http.legacy_error("AUTHENTICATION_INVALID", "Missing X-Authorization header")
  end
  if key ~= cfg.rest_key or api_key ~= cfg.api_key then
    return false, http.legacy_error("AUTHENTICATION_INVALID", "Invalid API key or REST API key")
  end
  return true
end

return M
