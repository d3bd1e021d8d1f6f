--- batchexport.cli.sync: `batchexport sync events`, `sync legacy KIND` and `sync attributes`,
-- for cron. Each is run(ctx, o) -> exit status: 0 landed, 6 nothing to do,
-- 7 another run holds the lock, 8 the watermark is past the lookback.
-- Quiet on success unless -v (one line a landed folder on stderr); --json
-- prints the summary.
local args = require("batchexport.cli.args")
local exports = require("batchexport.cli.exports")
local legacy = require("batchexport.cli.legacy")
local output = require("batchexport.cli.output")
local validate = require("batchexport.validate")

local M = {}

M.EXIT = { landed = 0, nothing = 6, locked = 7, gap = 8 }

local function now_of(o, path)
  if not o.now then return nil end
  local t = validate.parse_rfc3339(o.now)
  if not t then args.usage(path, "option '--now' expects an RFC 3339 date-time, got '" .. o.now .. "'") end
  return t
end

local function sync(ctx, o, path, opts)
  if not o.dir then args.usage(path, "--dir DIR is required (the landing folder)") end
  opts.dir, opts.now, opts.interval, opts.deadline = o.dir, now_of(o, path), o.interval, o.timeout
  local summary, err
  if path == "sync legacy" then
    summary, err = ctx:client(legacy.NEEDS).legacy.sync(o.kind, opts)
  else
    summary, err = ctx:client(exports.NEEDS).exports.sync(opts)
  end
  if not summary then
    if type(err) == "table" and (err.locked or err.gap) then
      io.stderr:write(output.error_line(err), "\n")
      if o.json then ctx:json({ status = err.locked and "locked" or "gap", message = err.message, gap = err.gap }) end
      return err.locked and M.EXIT.locked or M.EXIT.gap
    end
    output.check(nil, err)
  end
  if o.json then ctx:json(summary) end
  if o.verbose then
    for _, l in ipairs(summary.landed) do
      io.stderr:write(("batchexport: landed %s (%d files, %d records)\n"):format(l.folder, l.files, l.records))
    end
  end
  return summary.status == "landed" and M.EXIT.landed or M.EXIT.nothing
end

M.run = {
  events = function(ctx, o)
    return sync(ctx, o, "sync events", { events = o.events, identifiers = o.identifiers, since = o.since,
      lag = o.lag, max_range = o.max_range, accept_gap = o.accept_gap or nil })
  end,
  legacy = function(ctx, o)
    return sync(ctx, o, "sync legacy", { token = o.token, events = o.events, ids = o.ids, since = o.since,
      lag = o.lag, max_range = o.max_range, accept_gap = o.accept_gap or nil })
  end,
  attributes = function(ctx, o)
    return sync(ctx, o, "sync attributes", { attributes = o.attributes, identifiers = o.identifiers,
      keep = o.keep or 7 })
  end,
}

return M
