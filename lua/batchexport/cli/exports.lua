--- batchexport.cli.exports: the v2 sub-commands: list, view, create, wait,
-- download, cat and export. Each is run(ctx, o) -> exit status, where o is
-- the parsed command line (batchexport.cli.args).
local errors = require("batchexport.errors")
local library_files = require("batchexport.files")
local library_exports = require("batchexport.exports")
local cjson = require("cjson")
local args = require("batchexport.cli.args")
local output = require("batchexport.cli.output")
local progress = require("batchexport.cli.progress")
local term = require("batchexport.cli.term")

local check, drive, encode = output.check, output.drive, output.encode

local M = {}

local NEEDS = { "rest_key", "project_key" }
M.NEEDS = NEEDS

local usage = args.usage

---------------------------------------------------------------------------
-- Shared with the legacy commands

local AGE = { s = 1, m = 60, h = 3600, d = 86400, w = 7 * 86400 }

--- exports.when(v, fmt): "7d" -> that long ago (UTC) in the os.date format;
-- anything else as given (the library checks it).
function M.when(v, fmt)
  if v == nil then return nil end
  local n, unit = v:match("^(%d+)([smhdw])$")
  if n then return os.date(fmt, os.time() - tonumber(n) * AGE[unit]) end
  return v
end

--- exports.wait_with_progress(ctx, label, wait_fn, id, o) -> the result
-- of wait_fn(id, opts), with a live display; the final status is printed
-- on stdout, an ERROR or EXPIRED one too, before the error is raised.
function M.wait_with_progress(ctx, label, wait_fn, id, o)
  local p = ctx:live()
  local w = p:waiting(label)
  local opts = { timeout = o.timeout, interval = o.interval,
    progress = function(v) w:status(type(v) == "table" and v.status or "?") end }
  if o.interval and o.interval > 60 then opts.max_interval = o.interval end
  local result, err = drive(function() return wait_fn(id, opts) end, function() w:tick() end)
  if result then
    w:finish(result.status)
    return result
  end
  local final = type(err) == "table" and (err.kind == "export_failed" or err.kind == "expired")
    and type(err.export) == "table" and err.export
  if final and final.status then
    w:finish(final.status)
  else
    w:abandon()
  end
  error(err, 0)
end

--- exports.metered(m, fn) -> what fn returns, and the seconds it took:
-- fn driven (output.drive) with the meter m moving; on failure the meter
-- is taken away and the error raised.
function M.metered(m, fn)
  local result, err = drive(fn, function() m:tick() end)
  if not result then
    m:abandon()
    error(err, 0)
  end
  return result, m:finish()
end

--- exports.sweep(path) -> how many leftover temporary files of a download
-- to path the library removed (0 when the folder cannot be read).
function M.sweep(path)
  return library_files.sweep(path) or 0
end

---------------------------------------------------------------------------
-- Helpers

local function read_body(path, file)
  local text
  if file == "-" then
    text = io.stdin:read("*a")
  else
    local f = io.open(file, "rb")
    if not f then usage(path, "cannot read " .. file) end
    text = f:read("*a")
    f:close()
  end
  local ok, body = pcall(cjson.decode, text)
  if not ok or type(body) ~= "table" then usage(path, "--body: " .. file .. " is not a JSON object") end
  return body
end

-- The create body from the command line.
local function create_body(path, o)
  if o.body then
    if o.kind then usage(path, "give either KIND and options, or --body, not both") end
    return read_body(path, o.body)
  end
  local kind = o.kind
  if not kind then usage(path, "which export? 'attributes' or 'events' (or --body FILE)") end
  local function refuse(list)
    for _, name in ipairs(list) do
      if o[name:gsub("-", "_")] ~= nil then usage(path, "--" .. name .. " does not apply to " .. kind .. " exports") end
    end
  end
  if kind == "attributes" then
    refuse({ "events", "from", "to", "orchestration-ids" })
    if not o.attributes and not o.identifiers then
      usage(path, "an attributes export needs --attributes and/or --identifiers")
    end
    return { export_type = "ATTRIBUTES", attributes = o.attributes, identifiers = o.identifiers,
      filter = o.segment and { segment = o.segment } or nil }
  end
  refuse({ "attributes", "segment" })
  if not o.events then usage(path, "an events export needs --events (e.g. --events email_open,push_sent)") end
  local fmt = "!%Y-%m-%dT%H:%M:%SZ"
  return { export_type = "EVENTS", events = o.events, identifiers = o.identifiers,
    orchestration_ids = o.orchestration_ids, from = M.when(o.from or "7d", fmt), to = M.when(o.to or "now", fmt) }
end

local function files_summary(e)
  local files = type(e.files) == "table" and e.files or {}
  local size = 0
  for _, f in ipairs(files) do size = size + (tonumber(f.size) or 0) end
  return #files, size
end

-- "out/" and "out" are one folder: the paths printed are out/<name>.
local function folder(dir)
  if dir == nil then return "." end
  local trimmed = dir:gsub("/+$", "")
  return trimmed == "" and "/" or trimmed
end

-- Downloads a SUCCESS export into dir with a progress bar; returns paths.
local function download_export(ctx, export, dir, parallel)
  local client = ctx:client(NEEDS)
  local p = ctx:live()
  local stale = 0
  for _, f in ipairs(library_exports.parts(export)) do
    stale = stale + M.sweep((library_exports.part_path(dir, export.id, f.part)))
  end
  if stale > 0 then
    p:note(string.format("removed %d leftover temporary file(s) of %s in %s", stale, export.id, dir))
  end
  local count, total = files_summary(export)
  local m = p:meter(export.id)
  m:update(0, total)
  local paths, elapsed = M.metered(m, function()
    return client.exports.download(export, { dir = dir, parallel = parallel,
      progress = function(done, t) m:update(done, t) end })
  end)
  if not p.tty then
    p:note(string.format("downloaded %d file(s), %s in %s", count, progress.bytes(total), progress.duration(elapsed)))
  end
  return paths
end

local function print_paths(ctx, export, paths)
  if not ctx.opts.json then
    for _, path in ipairs(paths) do ctx:outln(path) end
    return
  end
  local parts, files = library_exports.parts(export), {}
  for i, path in ipairs(paths) do
    files[i] = { path = path, part = parts[i] and parts[i].part, size = parts[i] and parts[i].size }
  end
  ctx:json({ id = export.id, status = export.status, files = files })
end

-- Every record of a SUCCESS export, one JSON line each, as written by Batch.
-- With fields, the library's projection: only those fields are decoded,
-- each record written again as one JSON line.
local function cat_fields(ctx, export, fields)
  local client = ctx:client(NEEDS)
  local n = 0
  for record in client.exports.records(export, { fields = fields }) do
    io.stdout:write(cjson.encode(record), "\n")
    n = n + 1
  end
  return n
end

local function cat_export(ctx, export, fields)
  if fields then return cat_fields(ctx, export, fields) end
  local client = ctx:client(NEEDS)
  local n = 0
  for _, f in ipairs(library_exports.parts(export)) do
    local reader = check(client.exports.open(f))
    local ok, err = pcall(function()
      for line in reader:lines() do
        if line:find("[\r\n]") then line = line:gsub("[\r\n]", " ") end  -- raw newlines are only whitespace in JSON
        io.stdout:write(line, "\n")
        n = n + 1
      end
    end)
    reader:close()
    if not ok then error(err, 0) end
  end
  return n
end

-- A v2 export that must be SUCCESS for download/cat: a clear error if not.
local function finished_export(ctx, id)
  local export = check(ctx:client(NEEDS).exports.view(id))
  if export.status == "ERROR" then
    error(errors.new("export_failed", "export " .. id .. " failed (status ERROR): it has no files",
      { export = export }), 0)
  elseif export.status ~= "SUCCESS" then
    error(errors.new("validation", "export " .. id .. " is " .. tostring(export.status) ..
      ", not SUCCESS: its files are not ready (batchexport wait " .. id .. ")"), 0)
  end
  return export
end

local function wait_export(ctx, id, o)
  return M.wait_with_progress(ctx, id, ctx:client(NEEDS).exports.wait_for, id, o)
end

---------------------------------------------------------------------------
-- Sub-commands

local run = {}
M.run = run

function run.list(ctx, o)
  local client = ctx:client(NEEDS)
  local limit, cursor = o.limit, o.cursor
  local got, all, next_from = 0, {}, nil
  local text, header = not o.json, false
  while true do
    local want = limit and math.min(100, limit - got) or 100
    local page = client.exports.pages({ limit = want, from = cursor })()
    if not page then break end
    if text and not header then
      header = true
      ctx:outln(string.format("%-40s %-8s %-18s %-20s %s", "ID", "STATUS", "SCOPE", "REQUESTED", "FILES"))
    end
    for _, e in ipairs(page.exports or {}) do
      got = got + 1
      if text then
        local count, size = files_summary(e)
        ctx:outln(string.format("%-40s %-8s %-18s %-20s %s", tostring(e.id), tostring(e.status), tostring(e.scope),
          tostring(e.request_date), count > 0 and string.format("%d (%s)", count, progress.bytes(size)) or "-"))
      else
        all[#all + 1] = e
      end
    end
    next_from = page.has_more and page.next_from or nil
    if not next_from or (limit and got >= limit) then break end
    cursor = next_from
  end
  if o.json then
    ctx:json({ exports = all, count = got, next_from = next_from })
    return 0
  end
  io.stdout:flush()
  if next_from then
    ctx.progress:note(string.format("%d export(s); next: batchexport list --cursor %s", got, term.quote(next_from)))
  else
    ctx.progress:note(string.format("%d export(s)", got))
  end
  return 0
end

function run.view(ctx, o)
  local e = check(ctx:client(NEEDS).exports.view(o.id))
  if o.json then ctx:json(e) return 0 end
  local function row(k, v) if v ~= nil then ctx:outln(string.format("%-12s %s", k, tostring(v))) end end
  row("id", e.id)
  row("status", e.status)
  row("scope", e.scope)
  row("requested", e.request_date)
  row("started", e.start_date)
  row("completed", e.completion_date)
  if type(e.request) == "table" then row("request", encode(e.request)) end
  local count, size = files_summary(e)
  row("files", string.format("%d (%s)", count, progress.bytes(size)))
  for _, f in ipairs(e.files or {}) do
    ctx:outln(string.format("  part %-3s %s  %s", tostring(f.part), tostring(f.id), progress.bytes(f.size)))
  end
  return 0
end

function run.create(ctx, o)
  local body = create_body("create", o)
  local id = check(ctx:client(NEEDS).exports.create(body))
  if o.json then ctx:json({ id = id }) else ctx:outln(id) end
  return 0
end

--- exports.final_status(ctx, fn, ...) -> what fn(...) returns; the final
-- status is printed on stdout whatever it is, ERROR and EXPIRED included.
function M.final_status(ctx, fn, ...)
  local ok, result = pcall(fn, ...)
  if ok then
    ctx:final(result, tostring(result.status))
    return result
  end
  if type(result) == "table" and type(result.export) == "table" and result.export.status
    and (result.kind == "export_failed" or result.kind == "expired") then
    ctx:final(result.export, tostring(result.export.status))
  end
  error(result, 0)
end

function run.wait(ctx, o)
  M.final_status(ctx, wait_export, ctx, o.id, o)
  return 0
end

function run.download(ctx, o)
  local export = finished_export(ctx, o.id)
  local paths = download_export(ctx, export, folder(o.output), o.parallel)
  print_paths(ctx, export, paths)
  return 0
end

function run.cat(ctx, o)
  local export = finished_export(ctx, o.id)
  local n = cat_export(ctx, export, o.fields)
  io.stdout:flush()
  if o.verbose then ctx.progress:note(string.format("%d record(s)", n)) end
  return 0
end

function run.export(ctx, o)
  if not o.cat and not o.output then
    usage("export", "say where the records go: -o DIR to download the files, or --cat to print them")
  end
  local body = create_body("export", o)
  local client = ctx:client(NEEDS)
  local id = check(client.exports.create(body))
  local p = ctx:live()
  p:note("created " .. id)
  local export = wait_export(ctx, id, o)
  if o.cat then
    local n = cat_export(ctx, export)
    io.stdout:flush()
    p:note(string.format("%s: %d record(s)", id, n))
  else
    print_paths(ctx, export, download_export(ctx, export, folder(o.output), o.parallel))
  end
  return 0
end

return M
