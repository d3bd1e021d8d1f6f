--- batchexport.sync: incremental exports a cron job can trust, as
-- client.exports.sync(opts) (v2 events, or attribute snapshots) and
-- client.legacy.sync(kind, opts) (the legacy kinds with a time range). The
-- API's side is a driver, built by exports.lua and legacy.lua.
--
-- Everything lives in DIR/<kind>/ (kind: "events", "attributes", or
-- "legacy-<kind>[-<token>]"):
--
--   state.json          {format, version, kind, request, watermark,
--                        in_flight, history}: written atomically (the core's
--                        tempfile: temp, fsync, rename, folder fsync)
--   .lock               flock'ed by the run in progress (core.lock)
--   <from>_<to>/        one landed range (events), <stamp>/ one snapshot
--                        (attributes): the parts and manifest.json
--   .partial-<name>/    a range being landed; renamed into place when whole,
--                        removed by the next run if a run died in it
--
-- A run: lock; read the state (a state it cannot read whole, or one written
-- by a newer version, is refused and left as it is); land the export in
-- flight, if any; then, for events, create one export a range of at most
-- max_range from the watermark up to now - lag, land it, advance the
-- watermark, and go on. The state names the range before the export is
-- created and the export's id right after, so a run killed anywhere
-- resumes the same export (found again by its request in the export list
-- if the id was not saved yet) and no range is exported twice. Ranges are
-- half-open, [from, to): each begins where the last ended.
--
-- A part goes from the network to disk once: its bytes, as served (gzip
-- stays gzip), are written to a temporary file while core.digest takes
-- their sha256 and size and counts their records; nothing is read back.
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local files = require("batchexport.files")
local json = require("batchexport.json")
local options = require("batchexport.options")
local validate = require("batchexport.validate")
local wait = require("batchexport.wait")

local M = {}

M.FORMAT = "batchexport-sync"
M.VERSION = 1
M.LOOKBACK = 90 * 86400
-- A range must start this much inside the lookback when it is created: the
-- export is checked by the server a little after the run decides.
M.LOOKBACK_MARGIN = 3600
M.HISTORY_MAX = 1000
M.CHUNK = 1024 * 1024

---------------------------------------------------------------------------
-- Times

local UNITS = { s = 1, m = 60, h = 3600, d = 86400, w = 7 * 86400 }

--- sync.duration(v) -> seconds (an integer > 0) from "15m", "7d", "90s",
-- "2h", "1w" or a number of seconds; nil otherwise.
function M.duration(v)
  local n
  if type(v) == "number" then
    n = v
  elseif type(v) == "string" then
    local digits, unit = v:match("^(%d+)([smhdw])$")
    n = digits and tonumber(digits) * UNITS[unit]
  end
  if n and n == math.floor(n) and n > 0 and n < 2 ^ 40 then return math.floor(n) end
  return nil
end

--- sync.stamp(t) -> "2026-12-01T00:00:00Z"
function M.stamp(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- A folder name for an instant: "20261201T000000Z".
local function folder_stamp(t)
  return os.date("!%Y%m%dT%H%M%SZ", t)
end

-- An instant: an RFC 3339 date-time, or a duration meaning that long
-- before now. Returns whole seconds or nil.
local function instant(v, now)
  local back = M.duration(v)
  if back then return now - back end
  if type(v) ~= "string" then return nil end
  local t = validate.parse_rfc3339(v)
  return t and math.floor(t)
end

---------------------------------------------------------------------------
-- Options

local function list_of_strings(v)
  if type(v) ~= "table" or #v == 0 then return false end
  for i = 1, #v do if type(v[i]) ~= "string" then return false end end
  return true
end

local function is_duration(v) return M.duration(v) ~= nil end
local function is_instant(v) return instant(v, 0) ~= nil end

-- Every sync takes these; interval and max_interval go on to wait_for.
local function with_common(rules)
  rules.dir = options.DIR
  rules.deadline = options.DEADLINE
  rules.now = { "number", options.positive, "expected unix seconds (the instant the run treats as now)" }
  rules.interval = wait.RULES.interval
  rules.max_interval = wait.RULES.max_interval
  return rules
end

-- A duration or an instant is a string or a number: the predicate alone
-- decides (no type).
local EVENT_OPTIONS = with_common({
  events = { "table", list_of_strings, "expected a list of event names" },
  identifiers = { "table", list_of_strings, "expected a list of identifiers" },
  orchestration_ids = { "table", list_of_strings, "expected a list of orchestration ids" },
  since = { nil, is_instant, 'expected a duration ("7d") or an RFC 3339 date-time' },
  lag = { nil, is_duration, 'expected a duration ("15m") or seconds > 0' },
  max_range = { nil, is_duration, 'expected a duration ("1d") or seconds > 0' },
  accept_gap = { "boolean" },
})

local LEGACY_OPTIONS = with_common({
  token = { "string", function(v) return v ~= "" end, "expected a campaign token or group id" },
  events = EVENT_OPTIONS.events,
  ids = { "table", list_of_strings, "expected a list of id kinds" },
  since = EVENT_OPTIONS.since, lag = EVENT_OPTIONS.lag, max_range = EVENT_OPTIONS.max_range,
  accept_gap = EVENT_OPTIONS.accept_gap,
})

local SNAPSHOT_OPTIONS = with_common({
  attributes = { "table", list_of_strings, "expected a list of attribute names" },
  identifiers = EVENT_OPTIONS.identifiers,
  keep = { "number", options.whole(1, 10000), "expected a whole number from 1 to 10000" },
})

local function check_options(given, rules)
  local o, err = options.check(given, rules, "validation")
  if not o then return nil, err end
  if not o.dir then return nil, options.error("validation", { "dir: is required (the landing folder)" }) end
  return o
end

---------------------------------------------------------------------------
-- Folders

local function join(a, b) return a .. "/" .. b end

local function exists(path) return core.file_mode(path) ~= nil end

-- Removes a folder of plain files (a range a dead run left half-landed, a
-- snapshot past keep). Only files directly inside are expected.
local function remove_folder(path)
  local names = core.list_dir(path)
  for _, name in ipairs(names or {}) do os.remove(join(path, name)) end
  local ok, why = os.remove(path)
  if not ok then return nil, errors.new("config", "cannot remove " .. path .. ": " .. tostring(why)) end
  return true
end

local function read_file(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local text = fh:read(1024 * 1024 * 16 + 1)
  fh:close()
  return text or ""
end

---------------------------------------------------------------------------
-- State

local function state_error(path, why)
  return errors.new("config", path .. ": " .. why .. "; refused and left as it is (move it away to start over)",
    { state = path })
end

-- A whole number of seconds (math.type is 5.3+; LuaJIT runs this too).
local function is_seconds(v)
  return type(v) == "number" and v == math.floor(v) and v >= 0 and v < 2 ^ 53
end

local function is_range(r)
  return type(r) == "table" and is_seconds(r.from) and is_seconds(r.to) and r.from < r.to
end

-- Checks a decoded state: every field of the right type, nothing a run
-- could act on wrongly.
local function checked_state(s, path, kind)
  if type(s) ~= "table" or s.format ~= M.FORMAT then
    return nil, state_error(path, "not a batchexport sync state")
  end
  if not is_seconds(s.version) or s.version < 1 then
    return nil, state_error(path, "its version is not a whole number")
  end
  if s.version > M.VERSION then
    return nil, state_error(path, ("written by a newer batchexport (state version %d, this one reads %d)")
      :format(s.version, M.VERSION))
  end
  if s.kind ~= kind then
    return nil, state_error(path, "it is the state of " .. tostring(s.kind) .. ", not " .. kind)
  end
  if s.watermark ~= nil and not is_seconds(s.watermark) then
    return nil, state_error(path, "its watermark is not a whole number of seconds")
  end
  local f = s.in_flight
  if f ~= nil then
    if type(f) ~= "table" or (f.id ~= nil and (type(f.id) ~= "string" or f.id == ""))
      or (f.from ~= nil and not is_range(f)) or not is_seconds(f.at) then
      return nil, state_error(path, "its export in flight makes no sense")
    end
    if s.watermark and f.from and f.from ~= s.watermark then
      return nil, state_error(path, "its export in flight does not start at the watermark")
    end
  end
  if type(s.history) ~= "table" then
    return nil, state_error(path, "its history is not a list")
  end
  for _, h in ipairs(s.history) do
    if type(h) ~= "table" then return nil, state_error(path, "its history holds a non-entry") end
  end
  return s
end

local function load_state(path, kind)
  local text = read_file(path)
  if text == nil then return nil end
  local s, why = json.decode(text)
  if s == nil then return false, state_error(path, "not JSON (" .. tostring(why) .. ")") end
  return checked_state(s, path, kind)
end

local function save_state(run)
  local h = run.state.history
  while #h > M.HISTORY_MAX do table.remove(h, 1) end
  local text, why = json.encode(run.state)
  if not text then return nil, errors.new("config", "cannot encode the sync state: " .. why) end
  return files.write(run.state_path, text)
end

---------------------------------------------------------------------------
-- Landing one export

-- One part: streamed once from storage into a temporary file in `folder`
-- while digested. Returns the manifest entry or nil, err.
local function land_part(run, folder, export_id, file)
  local label = ("export %s part %d"):format(export_id, file.part)
  local path = join(folder, ("%s-%d"):format(files.safe_name(export_id), file.part)) .. "." .. (run.driver.format or "json")
  local reader, err = run.driver.open_raw(run.c, file, label)
  if not reader then return nil, err end
  local digest = core.digest(run.client.max_record, run.driver.format)
  local sha, size, records
  local function next_chunk()
    local chunk, why = reader:read(M.CHUNK)
    if chunk == nil then
      if why then return nil, why end
      sha, size, records = digest:finish()
      if not sha then return nil, errors.new("decode", label .. ": " .. size) end
      return nil
    end
    local ok
    ok, why = digest:update(chunk)
    if not ok then return nil, errors.new("decode", label .. ": " .. why) end
    return chunk
  end
  local name
  name, err = files.write(path, next_chunk, { gzip_path = path .. ".gz", label = label })
  reader:close()
  digest:close()
  if not name then return nil, err end
  return { name = name:match("[^/]+$"), id = file.id, part = file.part, size = size, sha256 = sha, records = records }
end

-- Lands a finished export into run.kind_dir/<name>: parts and manifest in
-- a .partial folder, renamed into place once whole.
local function land_export(run, export, name, range)
  local partial = join(run.kind_dir, ".partial-" .. name)
  local final = join(run.kind_dir, name)
  if exists(partial) then
    local ok, err = remove_folder(partial)
    if not ok then return nil, err end
  end
  local ok, why = core.mkdir(partial)
  if not ok then return nil, errors.new("config", why) end
  local manifest = { export = export.id, kind = run.kind, files = {}, records = 0, bytes = 0 }
  if range then
    manifest.from, manifest.to = M.stamp(range.from), M.stamp(range.to)
  else
    manifest.at = M.stamp(run.in_flight_at)
  end
  local parts = run.driver.parts(export)
  for i, file in ipairs(parts) do
    local entry, err = land_part(run, partial, export.id, file)
    if not entry then
      remove_folder(partial)
      return nil, err
    end
    manifest.files[i] = entry
    manifest.records = manifest.records + entry.records
    manifest.bytes = manifest.bytes + entry.size
  end
  local text = json.encode(manifest)
  ok, why = files.write(join(partial, "manifest.json"), text)
  if ok then ok, why = os.rename(partial, final) end
  if ok then ok, why = core.sync_dir(run.kind_dir) end
  if not ok then
    remove_folder(partial)
    return nil, errors.is(why) and why or errors.new("config", "cannot put " .. final .. " in place: " .. tostring(why))
  end
  return manifest
end

-- The manifest of a folder already in place (a run died after the rename,
-- before the state said so), if it is the export's.
local function landed_manifest(run, name, export_id)
  local text = read_file(join(join(run.kind_dir, name), "manifest.json"))
  local m = text and json.decode(text)
  if type(m) == "table" and m.export == export_id then return m end
end

---------------------------------------------------------------------------
-- A run

local function summary_entry(run, manifest, name)
  run.summary.landed[#run.summary.landed + 1] = {
    folder = join(run.kind_dir, name), export = manifest.export, from = manifest.from, to = manifest.to,
    at = manifest.at, files = #manifest.files, records = manifest.records, bytes = manifest.bytes,
  }
  run.summary.records = run.summary.records + manifest.records
end

-- Lands the export in flight (creating it, or finding it again, first).
local function land_in_flight(run)
  local f = run.state.in_flight
  local range = f.from and { from = f.from, to = f.to } or nil
  run.in_flight_at = f.at
  local name = range and (folder_stamp(range.from) .. "_" .. folder_stamp(range.to)) or folder_stamp(f.at)
  if not f.id then
    local id, err = run.driver.find(run.c, range, f.at)
    if err then return nil, err end
    if not id then
      -- A create that failed may still have been made (its answer lost):
      -- the range stays in flight, to be found again or created next run.
      id, err = run.driver.create(run.c, range)
      if not id then return nil, err end
      run.summary.created = run.summary.created + 1
    end
    f.id = id
    local ok, serr = save_state(run)
    if not ok then return nil, serr end
  end
  local manifest = landed_manifest(run, name, f.id)
  if not manifest then
    local export, err = run.driver.wait(run.c, f.id, run.wait)
    if not export then
      if errors.is(err, "export_failed") or errors.is(err, "expired") then
        -- A failed export is never resumed: the next run asks again.
        run.state.history[#run.state.history + 1] = { failed = f.id, from = range and M.stamp(range.from),
          to = range and M.stamp(range.to), message = err.message }
        run.state.in_flight = nil
        save_state(run)
      end
      return nil, err
    end
    manifest, err = land_export(run, export, name, range)
    if not manifest then return nil, err end
  end
  run.state.in_flight = nil
  if range then run.state.watermark = range.to end
  run.state.history[#run.state.history + 1] = { export = f.id, from = manifest.from, to = manifest.to,
    at = manifest.at, folder = name, files = #manifest.files, records = manifest.records, bytes = manifest.bytes,
    landed = M.stamp(run.now) }
  local ok, err = save_state(run)
  if not ok then return nil, err end
  summary_entry(run, manifest, name)
  return true
end

local function start_in_flight(run, range)
  run.state.in_flight = { from = range and range.from, to = range and range.to, at = run.now }
  return save_state(run)
end

-- The watermark is too old for the lookback: refuse, or record the gap.
local function lookback(run)
  local oldest = run.now - M.LOOKBACK + M.LOOKBACK_MARGIN
  local w = run.state.watermark
  if not w or w >= oldest or run.state.in_flight then return true end
  local gap = { from = M.stamp(w), to = M.stamp(oldest) }
  if not run.opts.accept_gap then
    return nil, errors.new("validation", ("the range %s to %s can no longer be exported (Batch keeps %d days): "
      .. "rerun with accept_gap (--accept-gap) to record the gap and go on"):format(gap.from, gap.to,
      math.floor(M.LOOKBACK / 86400)), { gap = gap })
  end
  run.state.history[#run.state.history + 1] = { gap = true, from = gap.from, to = gap.to, recorded = M.stamp(run.now) }
  run.state.watermark = oldest
  run.summary.gap = gap
  return save_state(run)
end

local function run_ranges(run)
  local ok, err = lookback(run)
  if not ok then return nil, err end
  local stop = run.now - run.lag
  while true do
    if not run.state.in_flight then
      local from = run.state.watermark
      if from >= stop then return true end
      local range = { from = from, to = math.min(from + run.max_range, stop) }
      ok, err = start_in_flight(run, range)
      if not ok then return nil, err end
    end
    ok, err = land_in_flight(run)
    if not ok then return nil, err end
  end
end

local function prune(run)
  local names = {}
  for _, name in ipairs(core.list_dir(run.kind_dir) or {}) do
    if name:match("^%d+T%d+Z$") then names[#names + 1] = name end
  end
  table.sort(names)
  for i = 1, #names - run.opts.keep do
    local ok, err = remove_folder(join(run.kind_dir, names[i]))
    if not ok then return nil, err end
    run.summary.removed[#run.summary.removed + 1] = join(run.kind_dir, names[i])
  end
  return true
end

local function run_snapshot(run)
  if not run.state.in_flight then
    local ok, err = start_in_flight(run, nil)
    if not ok then return nil, err end
  end
  local ok, err = land_in_flight(run)
  if not ok then return nil, err end
  return prune(run)
end

-- Removes what a dead run left: .partial folders, the state's temporary
-- files. Only ever called with the lock held.
local function sweep(run)
  core.sweep_temps(run.state_path)
  for _, name in ipairs(core.list_dir(run.kind_dir) or {}) do
    if name:match("^%.partial%-") then
      local ok, err = remove_folder(join(run.kind_dir, name))
      if not ok then return nil, err end
    end
  end
  return true
end

--- sync.run(client, c, driver, opts) -> summary, or nil, err. driver: kind,
-- request (what the state records), snapshot (bool), check(now) -> nil or
-- a validation error, create(c, range),
-- find(c, range, at), wait(c, id, opts), parts(export), open_raw(c, file,
-- label). opts: checked options with since/lag/max_range as given.
function M.run(client, c, driver, opts)
  local now = math.floor(opts.now or os.time())
  local invalid = driver.check(now)
  if invalid then return nil, invalid end
  local run = {
    client = client, c = c, driver = driver, opts = opts, now = now, kind = driver.kind,
    wait = { interval = opts.interval, max_interval = opts.max_interval },
    summary = { kind = driver.kind, landed = {}, removed = {}, created = 0, records = 0 },
  }
  if not driver.snapshot then
    run.lag = M.duration(opts.lag or "15m")
    run.max_range = M.duration(opts.max_range or "1d")
  end
  local ok, why = core.mkdir(opts.dir)
  if ok then
    run.kind_dir = join(opts.dir, driver.kind)
    ok, why = core.mkdir(run.kind_dir)
  end
  if not ok then return nil, errors.new("config", why) end
  run.summary.dir = run.kind_dir
  local lock, message, busy = core.lock(join(run.kind_dir, ".lock"))
  if not lock then
    return nil, errors.new("config", busy and (run.kind_dir .. ": another sync run holds the lock; this one "
      .. "did nothing") or message, { locked = busy or nil })
  end
  run.state_path = join(run.kind_dir, "state.json")
  local state, err = load_state(run.state_path, driver.kind)
  if state == false or (state == nil and err) then
    lock:close()
    return nil, err
  end
  if not state then
    state = { format = M.FORMAT, version = M.VERSION, kind = driver.kind, request = driver.request, history = {} }
    if not driver.snapshot then state.watermark = instant(opts.since or "1d", now) end
  end
  run.state = state
  local result
  ok, err = sweep(run)
  if ok then
    if driver.snapshot then ok, err = run_snapshot(run) else ok, err = run_ranges(run) end
  end
  lock:close()
  if not ok then return nil, err end
  result = run.summary
  result.watermark = state.watermark and M.stamp(state.watermark)
  result.status = #result.landed > 0 and "landed" or "nothing"
  return result
end

--- The options of exports.sync (family nil) or legacy.sync (family
-- "legacy"), checked: opts, or nil, err; and whether they ask for
-- snapshots (attributes) rather than events.
function M.options(opts, family)
  local known = family == "legacy" and LEGACY_OPTIONS or EVENT_OPTIONS
  if family ~= "legacy" and type(opts) == "table" and opts.events == nil
    and (opts.attributes ~= nil or opts.keep ~= nil or opts.identifiers ~= nil) then
    known = SNAPSHOT_OPTIONS
  end
  local o, err = check_options(opts, known)
  if not o then return nil, err end
  if known == EVENT_OPTIONS and not o.events then
    return nil, errors.new("validation", "events: is required (or attributes, for snapshots)",
      { problems = { "events: is required" } })
  end
  if known == SNAPSHOT_OPTIONS then o.keep = o.keep or 7 end
  return o, nil, known == SNAPSHOT_OPTIONS
end

return M
