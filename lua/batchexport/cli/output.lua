--- batchexport.cli.output: what the command writes and how it runs a call:
-- stdout (text, or JSON with --json), stderr (progress, notes, the one-line
-- error), the client built from the settings, and the scheduler driven so
-- live displays move while a call waits.
local batchexport = require("batchexport")
local errors = require("batchexport.errors")
local cjson = require("cjson")
local config = require("batchexport.cli.config")
local progress = require("batchexport.cli.progress")
local term = require("batchexport.cli.term")

local M = {}

--- output.encode(v) -> JSON for --json: object keys sorted (stable,
-- diffable), an empty table written as [] (export.files is the empty table
-- that matters; lua-cjson 2.1 would write {}), "/" not escaped.
local function encode(v)
  local t = type(v)
  if t == "table" then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    if n == #v then
      local out = {}
      for i = 1, n do out[i] = encode(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local out = {}
    for i, k in ipairs(keys) do
      local value = v[k]
      if value == nil then value = v[tonumber(k)] end
      out[i] = encode(k) .. ":" .. encode(value)
    end
    return "{" .. table.concat(out, ",") .. "}"
  elseif t == "string" then
    return (cjson.encode(v):gsub("\\/", "/"))
  elseif t == "number" or t == "boolean" then
    return cjson.encode(v)
  end
  return "null"
end
M.encode = encode

--- output.error_line(err) -> the one line the command prints for err.
function M.error_line(err)
  local s
  if errors.is(err) then
    if err.kind == "timeout" and err.elapsed ~= nil then
      -- A wait's timeout already counts its status checks in its message.
      local copy = {}
      for k, v in pairs(err) do copy[k] = v end
      copy.attempts = nil
      err = setmetatable(copy, getmetatable(err))
    end
    s = tostring(err)
  elseif type(err) == "table" and err.message then
    s = "batchexport: " .. tostring(err.kind or "error") .. ": " .. tostring(err.message)
  else
    s = "batchexport: internal error: " .. (tostring(err):match("^[^\n]*")) .. " (BATCHEXPORT_DEBUG=1 shows where)"
  end
  return progress.printable((s:gsub("[\r\n]+", " ")))
end

---------------------------------------------------------------------------
-- The run context

local Ctx = {}
Ctx.__index = Ctx

--- output.context(flags) -> the context a sub-command runs with.
function M.context(flags)
  return setmetatable({ opts = flags, progress = progress.new({ quiet = flags.quiet }) }, Ctx)
end

--- ctx:outln(s): one line of text output; what a server sent is shown, not
-- obeyed (control characters as "?").
function Ctx:outln(s)
  io.stdout:write(progress.printable(s), "\n")
end

function Ctx:json(v)
  io.stdout:write(encode(v), "\n")
end

--- ctx:final(v, text): the final object (a status) as text or as JSON, once.
function Ctx:final(v, text)
  if self.printed_final then return end
  self.printed_final = true
  if self.opts.json then self:json(v) else self:outln(text) end
end

--- ctx:settings() -> the options for batchexport.new, and their origin.
function Ctx:settings()
  if not self._settings then self._settings, self._origin = config.settings(self.opts) end
  return self._settings, self._origin
end

--- ctx:client(needs) -> the client; needs: the keys this command must have.
function Ctx:client(needs)
  local settings, origin = self:settings()
  config.require(settings, origin, needs or {})
  if self._client then return self._client end
  local s = {}
  for k, v in pairs(settings) do s[k] = v end
  if self.opts.verbose then
    -- Every request, retry, resumed transfer and status check, as the
    -- library logs them (keys masked by the C core).
    local p = self.progress
    s.logger = function(level, line)
      p:alert("batchexport: " .. (level == "debug" and "" or (level .. ": ")) .. line)
    end
  end
  local client, err = batchexport.new(s)
  if not client then error(config.advise(err), 0) end
  self._client = client
  return client
end

--- ctx:live() -> the progress display, drawing live only on a terminal
-- (decided once).
function Ctx:live()
  if self._live_checked then return self.progress end
  self._live_checked = true
  local o = self.opts
  local tty = not o.quiet and not o.no_progress and os.getenv("TERM") ~= "dumb" and term.isatty(2)
  self.progress.tty = tty and true or false
  if tty then self.progress.width = term.columns() end
  return self.progress
end

--- output.check(v, err) -> v, or raises err (said in the command's terms).
function M.check(v, err)
  if v == nil or v == false then error(config.advise(err), 0) end
  return v
end

--- output.drive(fn, tick) -> what fn returns: runs fn as a scheduler task,
-- stepping every 0.1 s and calling tick() in between, so live displays move
-- even while nothing arrives. Re-raises what fn raises. Ctrl-C (raised
-- here, in the main thread) cancels the task: the library then closes what
-- it holds, removing its temporary files.
function M.drive(fn, tick)
  local task = batchexport.spawn(fn)
  local ok, err = pcall(function()
    while true do
      batchexport.step(0.1)
      local st = task:status()
      if st == "done" or st == "failed" or st == "cancelled" then return end
      if tick then tick() end
    end
  end)
  if not ok then
    task:cancel()
    error(err, 0)
  end
  local res
  local function keep(...) res = { n = select("#", ...), ... } end
  keep(task:result())
  if not res[1] then error(res[2], 0) end
  return (table.unpack or unpack)(res, 2, res.n)
end

return M
