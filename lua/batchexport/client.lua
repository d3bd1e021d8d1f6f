--- batchexport.client: batchexport.new(options) and the client object. The
-- options are checked here, once, with the bounds the C core works within
-- (core.max_seconds, core.max_long): the core only asserts them. The
-- credentials go to the C core and are not kept on the Lua side, so nothing
-- that prints a client can show them; every error leaving the client's
-- calls is scrubbed of them (Client:scrub).
local class = require("batchexport.class")
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local options = require("batchexport.options")
local scheduler = require("batchexport.scheduler")

local M = {}

-- Bytes of a key: Batch's are 32 to 40. Masking cannot tell a shorter
-- one than core.min_secret (4) from plain text.
M.MIN_SECRET, M.MAX_SECRET = core.min_secret, 256

-- Each option's rule (batchexport.options). Numbers must be finite and in
-- range: NaN fails every comparison, so each rule is written as what is
-- accepted.
local MAX_SECONDS, MAX_LONG = core.max_seconds, core.max_long
local whole = options.whole

local positive = { "number", function(v) return v > 0 and v <= MAX_SECONDS end,
  "expected a number of seconds greater than 0, at most " .. MAX_SECONDS }
local non_negative = { "number", function(v) return v >= 0 and v <= MAX_SECONDS end,
  "expected a number of seconds from 0 to " .. MAX_SECONDS }
local count = { "number", whole(1, MAX_LONG), "expected a whole number from 1 to " .. MAX_LONG }
local secret = { "string", function(v) return #v >= M.MIN_SECRET and #v <= M.MAX_SECRET and not v:find("[%c%s]") end,
  "expected " .. M.MIN_SECRET .. " to " .. M.MAX_SECRET .. " characters, no spaces or control characters" }
-- Strings that end up in a request header or a URL.
local header_text = { "string", function(v) return #v <= 1024 and not v:find("%c") end,
  "expected at most 1024 characters, no control characters" }

local OPTIONS = {
  rest_key        = secret,
  project_key     = secret,
  api_key         = secret,
  base_url        = { "string" },
  api_version     = { "string", function(v) return v:match("^%d+%.%d+$") ~= nil end, "must look like 2.11" },
  timeout         = non_negative,
  connect_timeout = positive,
  low_speed_limit = { "number", whole(0, MAX_LONG), "expected a whole number of bytes per second from 0 to " .. MAX_LONG },
  low_speed_time  = positive,
  max_attempts    = count,
  backoff_base    = non_negative,
  backoff_max     = non_negative,
  max_retry_after = non_negative,
  ssl_verify      = { "boolean" },
  ca_file         = { "string" },
  proxy           = header_text,
  user_agent      = header_text,
  logger          = { "function" },
  allow_http      = { "boolean" },
  max_body        = count,
  max_record      = count,
  deadline        = options.DEADLINE,
  slice           = { "number", function(v) return v >= 0 and v <= 1 end, "expected a number of seconds from 0 to 1" },
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
  slice = 0.002,               -- seconds of decoding before a task or nginx handler yields
}

-- base_url parsed by libcurl (core.parse_url), and every decision taken on
-- the parsed parts, never on the text: returns the parsed URL, or nil and a
-- message. The message never echoes the URL, which may hold a password.
local function check_base_url(url, allow_http)
  local u, why = core.parse_url(url)
  if not u then return nil, "base_url: " .. why .. " (expected https://host[:port][/path])" end
  if u.user then
    return nil, "base_url: must not hold user-info (user:password@): the keys are options of their own"
  end
  if u.query or u.fragment then return nil, "base_url: must not contain a query or a fragment" end
  if u.scheme == "http" and not allow_http and not core.is_loopback(u.host) then
    return nil, "base_url: plain http:// to " .. u.host .. " would send the keys in clear;"
      .. " use https:// or set allow_http = true"
  end
  return u
end

--- Checks options; returns the settings with defaults, or nil, err.
function M.settings(given)
  local checked, err = options.check(given, OPTIONS, "config", "batchexport.new")
  if not checked then return nil, err end
  local s = {}
  for k, v in pairs(M.DEFAULTS) do s[k] = v end
  for k, v in pairs(checked) do s[k] = v end
  local problems = {}
  local u, why = check_base_url(s.base_url, s.allow_http)
  if u then
    -- The URL as parsed: what is shown is what is used.
    s.base_url = u.url:gsub("/+$", "")
  else
    problems[#problems + 1] = why
  end
  if s.ca_file then
    local f = io.open(s.ca_file, "rb")
    if f then f:close() else problems[#problems + 1] = "ca_file: cannot read " .. s.ca_file end
  end
  if #problems > 0 then return nil, options.error("config", problems) end
  return s
end

local Client = class("client", function(self) return self.base_url .. ", API " .. self.api_version end)

--- client:redact(text) -> text with this client's secrets masked as ***:
-- each whole key, and a piece of 4 or more characters of one cut off at
-- either end of the text (an excerpt's cut).
function Client:redact(text)
  return self.core:redact(text)
end

--- client:log(level, message): to the user's logger, secrets masked.
function Client:log(level, message)
  if self.logger then self.logger(level, self:redact(message)) end
end

-- v with every string in it redacted: keys and values, nested tables
-- included. Tables are copied where something changes (they may be the
-- caller's own, such as an export passed to download), except `into`,
-- which is changed in place.
local function masked(v, redact, seen, into)
  if type(v) == "string" then return redact(v) end
  if type(v) ~= "table" then return v end
  if seen[v] then return seen[v] end
  seen[v] = v
  local changes = {}
  for k, x in pairs(v) do
    local mk, mx = masked(k, redact, seen), masked(x, redact, seen)
    if mk ~= k or mx ~= x then changes[#changes + 1] = { k, mk, mx } end
  end
  if #changes == 0 then return v end
  local out = into
  if not out then
    out = setmetatable({}, getmetatable(v))
    for k, x in pairs(v) do out[k] = x end
    seen[v] = out
  end
  for _, c in ipairs(changes) do
    out[c[1]] = nil
    out[c[2]] = c[3]
  end
  return out
end

--- client:scrub(err) -> err with this client's secrets masked in every
-- string it holds (code, message, request, request_id, problems, the export
-- table...). The one place errors are cleaned before they leave the
-- client: the API tables' functions (guarded below), the iterators
-- (client:raise) and readers call it.
function Client:scrub(err)
  if type(err) == "string" then return self:redact(err) end
  if not errors.is(err) then return err end
  local redact = function(s) return self:redact(s) end
  return masked(err, redact, {}, err)
end

--- client:raise(err): how the iterators of this client's calls raise an
-- error: scrubbed, then as errors.raise. (An iterator is not wrapped in a
-- pcall of its own: that would cost every record.)
function Client:raise(err)
  errors.raise(self:scrub(err))
end

local function deliver(self, ok, first, ...)
  if not ok then errors.raise(self:scrub(first)) end
  if first == nil then
    local err = ...
    return nil, self:scrub(err)
  end
  return first, ...
end

-- The API table with each function guarded: what it returns or raises
-- passes through client:scrub. The iterators it returns raise through
-- client:raise.
-- On PUC Lua 5.1 a task cannot yield through a pcall, so there the guard
-- scrubs what a function returns but lets a raise pass as it is (the
-- library raises only from iterators, through client:raise, scrubbed).
local YIELDS_THROUGH_PCALL = not (_VERSION == "Lua 5.1" and not rawget(_G, "jit"))

local function guarded(self, api)
  for name, f in pairs(api) do
    if type(f) == "function" then
      if YIELDS_THROUGH_PCALL then
        api[name] = function(...) return deliver(self, pcall(f, ...)) end
      else
        api[name] = function(...) return deliver(self, true, f(...)) end
      end
    end
  end
  return api
end

--- client:close(): ends every transfer and frees the connections now rather
-- than at garbage collection. Every call after it answers nil, err.
function Client:close()
  self.closed = true
  self.core:close()
end
Client.__close = Client.close

--- client:check_open() -> nil, or the error for a call on a closed client.
function Client:check_open()
  if self.closed then
    return errors.new("validation", "the client is closed: client:close() was called")
  end
end

--- The error for a call that needs a credential the client was not given,
-- or that comes after client:close().
function Client:need(...)
  local closed = self:check_open()
  if closed then return closed end
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
function M.new(given)
  local s, err = M.settings(given)
  if not s then return nil, err end
  local self = setmetatable({
    base_url = s.base_url,
    api_version = s.api_version,
    logger = s.logger,
    max_record = s.max_record,
    deadline = s.deadline,      -- seconds each call may take, retries and waits included
    slice = s.slice,            -- seconds of work between yields (stream.iterator)
    policy = {
      max_attempts = s.max_attempts, backoff_base = s.backoff_base,
      backoff_max = s.backoff_max, max_retry_after = s.max_retry_after,
    },
  }, Client)
  self.core = core.client(scheduler.loop, {
    rest_key = s.rest_key, project_key = s.project_key, api_key = s.api_key, base_url = s.base_url,
    user_agent = s.user_agent or ("batchexport/" .. core.version .. " libcurl/" .. core.curl_version),
    proxy = s.proxy, ca_file = s.ca_file, ssl_verify = s.ssl_verify,
    connect_timeout = s.connect_timeout, timeout = s.timeout,
    low_speed_limit = s.low_speed_limit, low_speed_time = s.low_speed_time,
    max_body = s.max_body,
  })
  self.exports = guarded(self, require("batchexport.exports").bind(self))
  self.legacy = guarded(self, require("batchexport.legacy").bind(self))
  return self
end

return M
