-- Start and drive a batchexport mock from Lua 5.4 specs.
--
--   local mock = require("spec.support.mock")
--   local m = mock.start{ speed = 50 }
--   m:reset(); m:plan{ parts = 2 }; m:fault{ path = "/2.11/exports/list", status = 503 }
--   m:stop()
--
-- Plain HTTP over luasocket (luasec with the instance's CA under --tls); the
-- project's own client is deliberately not used here.
local socket = require("socket")
local http = require("socket.http")
local ltn12 = require("ltn12")
local cjson = require("cjson")

local M = {}

local function repo_root()
  local src = debug.getinfo(1, "S").source:sub(2)
  local dir = src:match("^(.*)/spec/support/[^/]*$")
  if dir and dir ~= "" then return dir end
  return "."
end

M.bin = repo_root() .. "/bin/batchexport-mock"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local OPTION_FLAGS = {
  port = "--port", storage_port = "--storage-port", data = "--data", seed = "--seed", speed = "--speed",
  link_ttl = "--link-ttl", history = "--history", legacy_history = "--legacy-history", workers = "--workers",
  rest_key = "--rest-key", project_key = "--project-key", api_key = "--api-key", created = "--created",
  pending = "--pending", running = "--running", prefix = "--prefix", watch_pid = "--watch-pid",
}

-- This process's pid, so an instance can stop itself if the runner dies.
local function self_pid()
  local fh = io.open("/proc/self/stat", "rb")
  if not fh then return nil end
  local pid = tonumber((fh:read("a") or ""):match("^(%d+)"))
  fh:close()
  return pid
end

-- Low-level HTTP: returns status, headers (lowercased names), body.
-- opts: method, url, headers, body, cafile (for https), redirect (default false)
function M.request(opts)
  local chunks = {}
  local req = {
    url = opts.url,
    method = opts.method or "GET",
    headers = opts.headers or {},
    sink = ltn12.sink.table(chunks),
    redirect = opts.redirect or false,
  }
  if opts.body then
    req.source = ltn12.source.string(opts.body)
    req.headers["content-length"] = tostring(#opts.body)
  end
  local requester = http.request
  if opts.url:match("^https:") then
    local https = require("ssl.https")
    requester = https.request
    req.cafile = opts.cafile
    req.verify = opts.verify or "peer"
    req.protocol = "any"
    req.options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1" }
  end
  local ok, status, headers = requester(req)
  if not ok then return nil, status end
  return status, headers, table.concat(chunks)
end

local Mock = {}
Mock.__index = Mock

-- Start an instance. opts: tls, port, storage_port, data, seed, speed, link_ttl,
-- history, legacy_history, workers, rest_key, project_key, api_key, created,
-- pending, running, prefix, watch_pid (default: this process, so a killed
-- runner leaves nothing behind; false to turn off).
function M.start(opts)
  opts = opts or {}
  if opts.watch_pid == nil then opts.watch_pid = self_pid() end
  if opts.watch_pid == false then opts.watch_pid = nil end
  local args = { sh_quote(M.bin), "start" }
  if opts.tls then args[#args + 1] = "--tls" end
  for k, flag in pairs(OPTION_FLAGS) do
    if opts[k] ~= nil then
      args[#args + 1] = flag
      args[#args + 1] = sh_quote(opts[k])
    end
  end
  local errfile = os.tmpname()
  local p = assert(io.popen(table.concat(args, " ") .. " 2>" .. sh_quote(errfile)))
  local out = p:read("a")
  local ok = p:close()
  local fh = io.open(errfile, "rb")
  local err = fh and fh:read("a") or ""
  if fh then fh:close() end
  os.remove(errfile)
  if not ok then error("batchexport-mock start failed: " .. err .. out, 2) end
  local env = {}
  for line in out:gmatch("[^\n]+") do
    local k, v = line:match("^export ([%w_]+)=(.*)$")
    if k then
      v = v:match("^'(.*)'$") or v
      env[k] = v
    end
  end
  local m = setmetatable({
    env = env,
    api_url = env.MOCK_API_URL,
    storage_url = env.MOCK_STORAGE_URL,
    pid = tonumber(env.MOCK_PID),
    prefix = env.MOCK_PREFIX,
    ca_file = env.MOCK_CA_FILE,
    data_dir = env.MOCK_DATA_DIR,
    rest_key = env.BATCH_REST_KEY,
    project_key = env.BATCH_PROJECT_KEY,
    api_key = env.BATCH_API_KEY,
    tls = opts.tls or false,
  }, Mock)
  if not m.api_url or not m.prefix then error("batchexport-mock start printed no URLs: " .. out, 2) end
  return m
end

-- MOCK_KEEP=1 in the environment keeps every prefix (conf, logs) for debugging.
function Mock:stop(keep)
  if self.stopped then return end
  self.stopped = true
  keep = keep or (os.getenv("MOCK_KEEP") or "") ~= ""
  os.execute(sh_quote(M.bin) .. " stop --prefix " .. sh_quote(self.prefix) .. (keep and " --keep" or ""))
end

-- A zombie counts as gone: in some containers nobody reaps the daemonized master.
function Mock:alive()
  local fh = io.open("/proc/" .. self.pid .. "/stat", "rb")
  if not fh then return false end
  local stat = fh:read("a")
  fh:close()
  local state = stat:match("%) (%u) ")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

-- Control API call: returns the decoded JSON body (or nil) and the status.
function Mock:control(method, path, body)
  local payload
  if body ~= nil then payload = type(body) == "string" and body or cjson.encode(body) end
  local status, _, text = M.request({
    method = method,
    url = self.api_url .. path,
    headers = { ["content-type"] = "application/json" },
    body = payload,
    cafile = self.ca_file,
  })
  if not status then error("control " .. method .. " " .. path .. " failed: " .. tostring(_), 2) end
  local ok, decoded = pcall(cjson.decode, text)
  return ok and decoded or text, status
end

local function checked(self, method, path, body)
  local res, status = self:control(method, path, body)
  if status >= 300 then
    error(string.format("mock control %s %s -> %d: %s", method, path, status,
      type(res) == "table" and tostring(res.error) or tostring(res)), 3)
  end
  return res
end

function Mock:reset() return checked(self, "POST", "/_mock/reset") end
function Mock:now() return checked(self, "GET", "/_mock/clock").now end
function Mock:advance(s) return checked(self, "POST", "/_mock/clock", { advance = s }).now end
function Mock:config(t) return checked(self, "POST", "/_mock/config", t) end
function Mock:fault(t) return checked(self, "POST", "/_mock/faults", t).id end
function Mock:faults() return checked(self, "GET", "/_mock/faults").faults end
function Mock:clear_faults() return checked(self, "DELETE", "/_mock/faults") end
function Mock:log() return checked(self, "GET", "/_mock/log") end
function Mock:clear_log() return checked(self, "DELETE", "/_mock/log") end
-- The logged requests to one host ("api" or "storage"), in order; with
-- path_part, only those whose path holds it.
function Mock:requests(host, path_part)
  local out = {}
  for _, r in ipairs(self:log().requests) do
    if r.host == host and (not path_part or r.path:find(path_part, 1, true)) then out[#out + 1] = r end
  end
  return out
end
function Mock:plan(t) return checked(self, "POST", "/_mock/plan", t or {}) end
function Mock:create_export(t) return checked(self, "POST", "/_mock/exports", t or {}) end
function Mock:legacy_plan(t) return checked(self, "POST", "/_mock/legacy/plan", t or {}) end
function Mock:create_legacy(t) return checked(self, "POST", "/_mock/legacy/requests", t or {}) end
function Mock:file(file_id) return checked(self, "GET", "/_mock/files/" .. file_id) end
function Mock:file_sha256(file_id)
  local r = checked(self, "GET", "/_mock/files/" .. file_id .. "/sha256")
  return r.sha256, math.tointeger and math.tointeger(r.size) or r.size
end

-- Authenticated v2 call with plain HTTP: status, headers, body (raw text).
function Mock:v2(method, path_and_query, body, extra_headers)
  local headers = {
    authorization = "Bearer " .. self.rest_key,
    ["x-batch-project"] = self.project_key,
  }
  if body then headers["content-type"] = "application/json" end
  for k, v in pairs(extra_headers or {}) do headers[k:lower()] = v or nil end
  return M.request({ method = method, url = self.api_url .. "/2.11" .. path_and_query, headers = headers,
    body = body and (type(body) == "string" and body or cjson.encode(body)), cafile = self.ca_file })
end

-- Authenticated legacy call (path after /1.0/{API_KEY}/export/).
function Mock:legacy(method, rest, body, extra_headers)
  local headers = { ["x-authorization"] = self.rest_key }
  if body then headers["content-type"] = "application/json" end
  for k, v in pairs(extra_headers or {}) do headers[k:lower()] = v or nil end
  return M.request({ method = method, url = self.api_url .. "/1.0/" .. self.api_key .. "/export/" .. rest,
    headers = headers, body = body and (type(body) == "string" and body or cjson.encode(body)), cafile = self.ca_file })
end

-- Percent-encode a query value (cursors hold '+', '/' and '=').
function M.urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- Run curl (args already shell-quoted as needed): stdout, exit code.
function M.curl(args)
  local p = assert(io.popen("curl -sS " .. args .. " 2>/dev/null"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

M.sh_quote = sh_quote
M.sleep = socket.sleep
M.gettime = socket.gettime

return M
