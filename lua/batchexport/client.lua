--- batchexport.client: batchexport.new(options) and the client object. The
-- options are checked here, once; the credentials go to the C core and are
-- not kept on the Lua side, so nothing that prints a client can show them.
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local scheduler = require("batchexport.scheduler")

local M = {}

-- Each option: its type, and a check returning an error message or nil.
local function positive(v) if not (v > 0) then return "must be greater than 0" end end
local function non_negative(v) if v < 0 then return "must not be negative" end end
local function whole(v) if v ~= math.floor(v) or v < 1 then return "must be a whole number >= 1" end end
local function secret(v)
  if v == "" then return "must not be empty" end
  if v:find("[%c%s]") then return "must not contain spaces or control characters" end
end

local OPTIONS = {
  rest_key        = { "string", secret },
  project_key     = { "string", secret },
  api_key         = { "string", secret },
  base_url        = { "string" },
  api_version     = { "string", function(v) if not v:match("^%d+%.%d+$") then return "must look like 2.11" end end },
  timeout         = { "number", non_negative },
  connect_timeout = { "number", positive },
  low_speed_limit = { "number", non_negative },
  low_speed_time  = { "number", positive },
  max_attempts    = { "number", whole },
  backoff_base    = { "number", non_negative },
  backoff_max     = { "number", non_negative },
  max_retry_after = { "number", non_negative },
  ssl_verify      = { "boolean" },
  ca_file         = { "string" },
  proxy           = { "string" },
  user_agent      = { "string" },
  logger          = { "function" },
  allow_http      = { "boolean" },
  max_body        = { "number", whole },
  max_record      = { "number", whole },
  deadline        = { "number", function(v) if not (v > 0 and v < math.huge) then return "must be a number of seconds greater than 0" end end },
}

M.DEFAULTS = {
  base_url = "https://api.batch.com",
  api_version = "2.11",
  timeout = 0,                 -- no limit on a whole transfer: parts are large...
  connect_timeout = 10,
  low_speed_limit = 1,         -- ...but a transfer stalled below 1 B/s for
  low_speed_time = 60,         -- 60 s is abandoned
  max_attempts = 5,
  backoff_base = 0.5,
  backoff_max = 30,
  max_retry_after = 300,
  ssl_verify = true,
  max_body = 16 * 1024 * 1024,
  max_record = 64 * 1024 * 1024,
}

local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(name)
  local best, best_d
  for known in pairs(OPTIONS) do
    local d = distance(name, known)
    if d <= 2 and (not best_d or d < best_d or (d == best_d and known < best)) then best, best_d = known, d end
  end
  return best and (' (did you mean "' .. best .. '"?)') or ""
end

local LOOPBACK = { localhost = true, ["127.0.0.1"] = true, ["[::1]"] = true }

local function check_base_url(url, allow_http)
  local scheme, host = url:match("^(https?)://([^/%?#]+)")
  if not scheme then return "base_url: expected http(s)://host[:port][/path], got " .. url end
  if url:find("[%s%c%?#]") then return "base_url: must not contain spaces, a query or a fragment" end
  local hostname = host:match("^(%[.-%])") or host:match("^([^:]+)")
  if scheme == "http" and not allow_http and not (LOOPBACK[hostname] or hostname:match("^127%.")) then
    return "base_url: plain http:// to " .. hostname .. " would send the keys in clear; use https:// or set allow_http = true"
  end
end

--- Checks options; returns the settings with defaults, or nil, err.
function M.settings(options)
  if options == nil then options = {} end
  if type(options) ~= "table" then
    return nil, errors.new("config", "batchexport.new: expected a table of options, got " .. type(options))
  end
  local problems = {}
  local names = {}
  for name in pairs(options) do names[#names + 1] = tostring(name) end
  table.sort(names)
  for _, name in ipairs(names) do
    local spec, value = OPTIONS[name], options[name]
    if not spec then
      problems[#problems + 1] = 'unknown option "' .. name .. '"' .. suggest(name)
    elseif type(value) ~= spec[1] then
      problems[#problems + 1] = name .. ": expected a " .. spec[1] .. ", got " .. type(value)
    elseif spec[2] then
      local why = spec[2](value)
      if why then problems[#problems + 1] = name .. ": " .. why end
    end
  end
  local s = {}
  for k, v in pairs(M.DEFAULTS) do s[k] = v end
  for k, v in pairs(options) do if OPTIONS[k] then s[k] = v end end
  if #problems == 0 then
    s.base_url = s.base_url:gsub("/+$", "")
    problems[#problems + 1] = check_base_url(s.base_url, s.allow_http)
    if s.ca_file then
      local f = io.open(s.ca_file, "rb")
      if f then f:close() else problems[#problems + 1] = "ca_file: cannot read " .. s.ca_file end
    end
  end
  if #problems > 0 then
    -- Values are never echoed: a mistyped option may well hold a key.
    return nil, errors.new("config", table.concat(problems, "; "), { problems = problems })
  end
  return s
end

local Client = {}
Client.__index = Client
Client.__name = "batchexport.client"

function Client:__tostring()
  return string.format("batchexport.client (%s, API %s)", self.base_url, self.api_version)
end

--- client:log(level, message): to the user's logger, secrets masked.
function Client:log(level, message)
  if self.logger then self.logger(level, self.core:redact(message)) end
end

--- client:close(): ends every transfer and frees the connections now rather
-- than at garbage collection.
function Client:close()
  self.core:close()
end
Client.__close = Client.close

--- The error for a call that needs a credential the client was not given.
function Client:need(...)
  local missing = {}
  for _, name in ipairs({ ... }) do
    if not self.core:has(name) then missing[#missing + 1] = name end
  end
  if #missing > 0 then
    return errors.new("config", "this call needs " .. table.concat(missing, " and ") ..
      " (pass it to batchexport.new)")
  end
end

--- batchexport.new(options) -> client, or nil, err
function M.new(options)
  local s, err = M.settings(options)
  if not s then return nil, err end
  local self = setmetatable({
    base_url = s.base_url,
    api_version = s.api_version,
    logger = s.logger,
    max_record = s.max_record,
    deadline = s.deadline,      -- seconds each call may take, retries and waits included
    policy = {
      max_attempts = s.max_attempts, backoff_base = s.backoff_base,
      backoff_max = s.backoff_max, max_retry_after = s.max_retry_after,
    },
  }, Client)
  self.core = core.client(scheduler.loop, {
    rest_key = s.rest_key, project_key = s.project_key, api_key = s.api_key,
    user_agent = s.user_agent or ("batchexport/" .. core.version .. " libcurl/" .. core.curl_version),
    proxy = s.proxy, ca_file = s.ca_file, ssl_verify = s.ssl_verify,
    connect_timeout = s.connect_timeout, timeout = s.timeout,
    low_speed_limit = s.low_speed_limit, low_speed_time = s.low_speed_time,
    max_body = s.max_body,
  })
  self.exports = require("batchexport.exports").bind(self)
  self.legacy = require("batchexport.legacy").bind(self)
  return self
end

return M
