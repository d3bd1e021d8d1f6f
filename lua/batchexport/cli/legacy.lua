--- batchexport.cli.legacy: the legacy 1.0 sub-commands: legacy create,
-- status, wait, download and rows. Each is run(ctx, o) -> exit status.
local args = require("batchexport.cli.args")
local exports = require("batchexport.cli.exports")
local output = require("batchexport.cli.output")
local progress = require("batchexport.cli.progress")

local check, encode = output.check, output.encode

local M = {}

local NEEDS = { "rest_key", "api_key" }
M.NEEDS = NEEDS

local run = {}
M.run = run

run.create = function(ctx, o)
  local fmt = "!%Y-%m-%dT%H:%M:%S"
  local params = { token = o.token, events = o.events, ids = o.ids }
  if o.kind ~= "userbase" then
    params.from = exports.when(o.from or "7d", fmt)
    params.to = exports.when(o.to or "now", fmt)
  elseif o.from or o.to then
    args.usage("legacy create", "a userbase export takes no --from/--to (it is a snapshot)")
  end
  local id = check(ctx:client(NEEDS).legacy.create(o.kind, params))
  if o.json then ctx:json({ id = id }) else ctx:outln(id) end
  return 0
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

run.status = function(ctx, o)
  local s = check(ctx:client(NEEDS).legacy.status(o.id))
  if o.json then ctx:json(s) return 0 end
  local order = { "id", "status", "request_date", "completion_date", "error_msg", "uri", "file_url" }
  local seen = {}
  for _, k in ipairs(order) do
    seen[k] = true
    if s[k] ~= nil then ctx:outln(string.format("%-16s %s", k, tostring(s[k]))) end
  end
  for _, k in ipairs(sorted_keys(s)) do
    if not seen[k] then
      local v = s[k]
      ctx:outln(string.format("%-16s %s", tostring(k), type(v) == "table" and encode(v) or tostring(v)))
    end
  end
  return 0
end

run.wait = function(ctx, o)
  local client = ctx:client(NEEDS)
  exports.final_status(ctx, exports.wait_with_progress, ctx, o.id, client.legacy.wait_for, o.id, o)
  return 0
end

run.download = function(ctx, o)
  local client = ctx:client(NEEDS)
  local path = o.output
  local p = ctx:live()
  if path then
    local stale = exports.sweep(path)
    if stale > 0 then p:note(string.format("removed %d leftover temporary file(s) of %s", stale, path)) end
  end
  local m = p:meter(o.id)
  local saved, elapsed = exports.metered(m, function()
    return client.legacy.download(o.id, { path = path, progress = function(done) m:update(done) end })
  end)
  if not p.tty then
    p:note(string.format("downloaded %s in %s", progress.bytes(m.done), progress.duration(elapsed)))
  end
  if o.json then ctx:json({ id = o.id, path = saved }) else ctx:outln(saved) end
  return 0
end

local function csv_field(v)
  v = tostring(v)
  if v:find('[;"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

run.rows = function(ctx, o)
  local client = ctx:client(NEEDS)
  local header = not o.no_header
  if o.json then
    for row in client.legacy.rows(o.id, { header = header }) do ctx:json(row) end
    return 0
  end
  -- Text: the CSV as Batch wrote it (fields re-quoted where needed).
  local skip = not header
  for row in client.legacy.rows(o.id, { header = false }) do
    if skip then
      skip = false
    else
      local fields = {}
      for i = 1, #row do fields[i] = csv_field(row[i]) end
      io.stdout:write(table.concat(fields, ";"), "\n")
    end
  end
  return 0
end

return M
