--- batchexport.cli: the `batchexport` command (bin/batchexport), as a module
-- so it is testable and installed with the library.
--
--   local code = require("batchexport.cli").main(arg)   -- returns the exit status
--
-- Exit status: 0 ok; 1 API or network error; 2 usage or configuration;
-- 3 the export failed (ERROR); 4 the legacy export expired (EXPIRED);
-- 5 a wait ran past --timeout; 130 interrupted (Ctrl-C).
--
-- stdout carries the result (ids, tables, paths, records, JSON with --json);
-- stderr carries progress, notes and the one-line error.
local batchexport = require("batchexport")
local errors = require("batchexport.errors")
local progress = require("batchexport.cli.progress")

local M = {}

M.EXIT = { ok = 0, error = 1, usage = 2, failed = 3, expired = 4, timeout = 5, interrupted = 130 }

local cjson = require("cjson")

-- JSON for --json output: object keys sorted (stable, diffable), an empty
-- table written as [] (export.files is the empty table that matters; lua-cjson
-- 2.1 would write {}), "/" not escaped.
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

---------------------------------------------------------------------------
-- Errors the command itself raises

local Usage = {}
Usage.__index = Usage

local function usage(cmd, msg)
  error(setmetatable({ cmd = cmd, msg = msg }, Usage), 0)
end

local Interrupted = { "interrupted" }

local function is_interrupt(e)
  return e == Interrupted or (type(e) == "string" and e:find("interrupted!$") ~= nil)
end

---------------------------------------------------------------------------
-- Help texts

local MAIN_HELP = [[
batchexport: Batch's Export APIs (v2 Exports and legacy 1.0) from the command line

usage: batchexport [OPTIONS] COMMAND [ARGS]

v2 exports:
  list                          list exports, newest first (every page, or --limit/--from)
  view ID                       show one export
  create attributes|events ...  request an export; prints its id
  wait ID                       wait until the export ends (status and elapsed time)
  download ID -o DIR            save its files (a progress bar on a terminal)
  cat ID                        print every record as one JSON line (pipe into jq)
  export attributes|events ... (-o DIR | --cat)
                                create, wait, then download or cat, in one go
legacy 1.0 exports:
  legacy create KIND ...        request a legacy export; prints its request id
  legacy status ID              show a request's status
  legacy wait ID                wait until it ends
  legacy download ID [-o FILE]  save its CSV
  legacy rows ID                print its CSV rows (or JSON lines with --json)
  help [COMMAND]                this text, or a command's (also: COMMAND --help)

Options (anywhere on the line):
  --base-url URL      API root (default https://api.batch.com; env BATCH_BASE_URL):
                      the mock's MOCK_API_URL, or a proxy
  --api-version V     v2 API version in the path (default 2.11)
  --ca-file FILE      CA bundle (PEM) to verify the server with
  --config FILE       config file (default $BATCHEXPORT_CONFIG, else
                      ~/.config/batchexport/config)
  --json              machine-readable output on stdout
  -q, --quiet         no progress and no notes; errors only
  -v, --verbose       log every request, retry and status check to stderr (keys masked)
  --no-progress       no live progress line even on a terminal
  -h, --help          help; --version prints the version

Credentials come from the environment: BATCH_REST_KEY (both APIs),
BATCH_PROJECT_KEY (v2), BATCH_API_KEY (legacy); or from the config file,
`key = value` lines (rest_key, project_key, api_key, base_url, api_version,
ca_file, proxy) in a file only its owner may read (chmod 600). The
environment overrides the file; flags override both. Keys are never printed.

Progress: drawn on stderr when stderr is a terminal (checked once with
`test -t 2`) and TERM is not "dumb": a bar with bytes, rate and time left
while downloading, the status and elapsed time while waiting. Otherwise
(pipes, CI) no bar and no control characters, only plain notes.

Exit status:
  0    success
  1    API or network error (the error's one line on stderr)
  2    wrong usage or configuration (bad option, missing key, config file readable by others)
  3    the export failed (status ERROR)
  4    the legacy export expired (status EXPIRED)
  5    a wait ran past --timeout
  130  interrupted (Ctrl-C): no partial file is left under a final name, nor a temporary one
]]

local CREATE_OPTIONS_HELP = [[
attributes:
  -a, --attributes LIST   attributes to export, comma-separated or repeated
                          ($-names are native: '$email_address,$language'; others custom)
  -i, --identifiers LIST  custom_id and/or installation_ids
  --segment CODE          only profiles of this segment (rate-limited by Batch)
events:
  -e, --events LIST       e.g. email_open,push_sent (at least one)
  --from TIME             RFC 3339 (2024-05-01T00:00:00Z) or an age: 30m, 12h, 7d, 2w
                          (default 7d)
  --to TIME               RFC 3339, an age, or "now" (default now)
  -i, --identifiers LIST  custom_id and/or installation_id
  --orchestration-ids LIST  only these orchestrations
either:
  --body FILE             the whole request body as JSON (FILE or - for stdin);
                          the KIND argument and the options above are then not used]]

local HELP = {
  list = [[
usage: batchexport list [--limit N] [--from CURSOR] [--json]

Lists exports, newest first: every page, or at most N from CURSOR on. When
--limit stops before the end, the cursor to resume from is printed on stderr
("next: batchexport list --from CURSOR"), and is "next_from" with --json.
Text output: one export a line (id, status, scope, request date, files).
--json: {"exports": [...], "count": n, "next_from": cursor-or-absent}.

  --limit N       at most N exports (pages are fetched 100 at a time)
  --from CURSOR   start from a cursor a previous listing gave]],
  view = [[
usage: batchexport view ID [--json]

Shows one export: status, scope, dates, the request and its files.
--json: the export object as the API gives it.]],
  create = [[
usage: batchexport create attributes [OPTIONS]
       batchexport create events [OPTIONS]
       batchexport create --body FILE

Requests an export and prints its id (--json: {"id": "..."}). The request is
checked before it is sent; every problem is reported at once (exit 2).

]] .. CREATE_OPTIONS_HELP,
  wait = [[
usage: batchexport wait ID [--timeout S] [--interval S] [--json]

Waits until the export is SUCCESS (exit 0) or ERROR (exit 3), or --timeout
passes (exit 5). On a terminal the status and elapsed time are shown live;
elsewhere each status change is a note on stderr. Prints the final status
(--json: the export).

  --timeout S     give up after S seconds (default: no limit)
  --interval S    first pause between checks (default 5; pauses grow to 60 s)]],
  download = [[
usage: batchexport download ID -o DIR [--parallel N] [--json]

Saves every file of a SUCCESS export into DIR (created if missing) as
<id>-<part>.json (.json.gz when the part is gzip) and prints their paths
(--json: {"id", "files": [{"path", "part", "size"}]}). Each file goes to a
hidden temporary file first, is checked against its size and only then
renamed: a final name only ever holds a whole file. Leftover temporary files
of this export (from a killed run) are removed first, and on Ctrl-C.

  -o, --output DIR   where to save (default: the current folder)
  --parallel N       files fetched at once (default 2)]],
  cat = [[
usage: batchexport cat ID

Prints every record of every part, in order, as one JSON line each, exactly
as Batch wrote it (gzip is inflated; a JSON array is split into its records).
Pipe it: batchexport cat ID | jq -r '.custom_id']],
  export = [[
usage: batchexport export attributes|events [OPTIONS] (-o DIR | --cat)
       batchexport export --body FILE (-o DIR | --cat)

Creates an export, waits for it (with progress), then downloads its files
into DIR (prints their paths) or, with --cat, prints its records as JSON lines.
Exit 3 if it fails, 5 past --timeout.

  -o, --output DIR   download into DIR
  --cat              print the records instead
  --timeout S        give up waiting after S seconds
  --interval S       first pause between checks (default 5)
  --parallel N       files fetched at once (default 2)

]] .. CREATE_OPTIONS_HELP,
  legacy = [[
usage: batchexport legacy create KIND [OPTIONS]
       batchexport legacy status ID
       batchexport legacy wait ID [--timeout S] [--interval S]
       batchexport legacy download ID [-o FILE]
       batchexport legacy rows ID [--no-header]

The legacy 1.0 Export API (needs BATCH_REST_KEY and BATCH_API_KEY).
See batchexport legacy COMMAND --help.]],
  ["legacy create"] = [[
usage: batchexport legacy create KIND [--token T] [--from D] [--to D] [--events LIST] --ids LIST

Requests a legacy export and prints its request id (--json: {"id": "..."}).
KIND: campaign_ids campaign_events transactional_ids transactional_events
      inapp_ids inapp_events reachability userbase

  --token T        campaign token (campaign_*, inapp_*) or group id (transactional_*)
  --from D         YYYY-MM-DDTHH:MM:SS (UTC), "now", or an age: 12h, 7d (default 7d;
                   not for userbase)
  --to D           the same (default now; not for userbase)
  -e, --events LIST  push_sent,push_open,push_error (campaign, transactional) or
                   inapp_shown,inapp_clicked,inapp_closed (in-app); not for
                   reachability or userbase
  --ids LIST       install_id,custom_id,advertising_id (at least one)]],
  ["legacy status"] = [[
usage: batchexport legacy status ID [--json]

Shows a legacy request's status (--json: the status object; the API key in
its URLs is shown as ***). Exit 0 whatever the status.]],
  ["legacy wait"] = [[
usage: batchexport legacy wait ID [--timeout S] [--interval S] [--json]

Waits until the request is SUCCESS (exit 0), ERROR (exit 3), EXPIRED (exit 4)
or --timeout passes (exit 5), showing status and elapsed time.]],
  ["legacy download"] = [[
usage: batchexport legacy download ID [-o FILE] [--json]

Saves the CSV to FILE (default: the file's own name in the current folder)
through a temporary file renamed once complete; prints the path.]],
  ["legacy rows"] = [[
usage: batchexport legacy rows ID [--no-header] [--json]

Prints the CSV's rows, streamed: ';'-separated as Batch wrote them (quoted
where needed), or with --json one JSON object per row keyed by the header's
names (arrays with --no-header).]],
}

---------------------------------------------------------------------------
-- Options

local GLOBAL = {
  { "base-url", arg = "URL" }, { "api-version", arg = "V" }, { "ca-file", arg = "FILE" },
  { "config", arg = "FILE" }, { "json" }, { "quiet", short = "q" }, { "verbose", short = "v" },
  { "no-progress" }, { "help", short = "h" }, { "version" },
}

local CREATE = {
  { "attributes", short = "a", arg = "LIST", list = true }, { "identifiers", short = "i", arg = "LIST", list = true },
  { "segment", arg = "CODE" }, { "events", short = "e", arg = "LIST", list = true },
  { "from", arg = "TIME" }, { "to", arg = "TIME" }, { "orchestration-ids", arg = "LIST", list = true },
  { "body", arg = "FILE" },
}

local WAIT = { { "timeout", arg = "S", number = true }, { "interval", arg = "S", number = true } }

local function concat_opts(...)
  local out = {}
  for _, list in ipairs({ ... }) do for _, o in ipairs(list) do out[#out + 1] = o end end
  return out
end

local COMMANDS = {
  list = { opts = { { "limit", arg = "N", int = true }, { "from", arg = "CURSOR" } }, min = 0, max = 0 },
  view = { opts = {}, min = 1, max = 1, args = "ID" },
  create = { opts = CREATE, min = 0, max = 1, args = "KIND" },
  wait = { opts = WAIT, min = 1, max = 1, args = "ID" },
  download = { opts = { { "output", short = "o", arg = "DIR" }, { "parallel", arg = "N", int = true } },
    min = 1, max = 1, args = "ID" },
  cat = { opts = {}, min = 1, max = 1, args = "ID" },
  export = { opts = concat_opts(CREATE, WAIT, { { "output", short = "o", arg = "DIR" }, { "cat" },
    { "parallel", arg = "N", int = true } }), min = 0, max = 1, args = "KIND" },
  ["legacy create"] = { opts = { { "token", arg = "T" }, { "from", arg = "D" }, { "to", arg = "D" },
    { "events", short = "e", arg = "LIST", list = true }, { "ids", arg = "LIST", list = true } },
    min = 1, max = 1, args = "KIND" },
  ["legacy status"] = { opts = {}, min = 1, max = 1, args = "ID" },
  ["legacy wait"] = { opts = WAIT, min = 1, max = 1, args = "ID" },
  ["legacy download"] = { opts = { { "output", short = "o", arg = "FILE" } }, min = 1, max = 1, args = "ID" },
  ["legacy rows"] = { opts = { { "no-header" } }, min = 1, max = 1, args = "ID" },
}

local function split_list(v)
  local out = {}
  for item in v:gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

-- Parses argv (from index i) with the given option specs: returns the
-- options (names with _ for -) and the positional arguments.
local function parse(cmd, argv, i, specs, opts, args)
  local by_long, by_short = {}, {}
  for _, s in ipairs(specs) do
    by_long[s[1]] = s
    if s.short then by_short[s.short] = s end
  end
  local function set(s, flag, value)
    local key = s[1]:gsub("-", "_")
    if not s.arg then
      if value ~= nil then usage(cmd, "option " .. flag .. " takes no value") end
      opts[key] = true
      return
    end
    if s.list then
      local list = opts[key] or {}
      for _, item in ipairs(split_list(value)) do list[#list + 1] = item end
      opts[key] = list
    elseif s.int or s.number then
      local n = tonumber(value)
      if not n or n <= 0 or (s.int and n ~= math.floor(n)) then
        usage(cmd, "option " .. flag .. " expects " .. (s.int and "a whole number > 0" or "a number of seconds > 0")
          .. ", got '" .. value .. "'")
      end
      opts[key] = s.int and math.floor(n) or n
    else
      opts[key] = value
    end
  end
  local only_args = false
  while i <= #argv do
    local a = argv[i]
    if only_args or a == "-" or a:sub(1, 1) ~= "-" then
      args[#args + 1] = a
    elseif a == "--" then
      only_args = true
    elseif a:sub(1, 2) == "--" then
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
      local s = by_long[name]
      if not s then usage(cmd, "unknown option --" .. name) end
      if s.arg and value == nil then
        i = i + 1
        value = argv[i]
        if value == nil then usage(cmd, "option --" .. name .. " needs a value (" .. s.arg .. ")") end
      end
      set(s, "--" .. name, value)
    else
      local letter, rest = a:sub(2, 2), a:sub(3)
      local s = by_short[letter]
      if not s then usage(cmd, "unknown option -" .. letter) end
      if s.arg then
        local value = rest ~= "" and rest or nil
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then usage(cmd, "option -" .. letter .. " needs a value (" .. s.arg .. ")") end
        end
        set(s, "-" .. letter, value)
      else
        if rest ~= "" then usage(cmd, "unknown option " .. a) end
        set(s, "-" .. letter, nil)
      end
    end
    i = i + 1
  end
  return opts, args
end

---------------------------------------------------------------------------
-- Configuration: flags > environment > config file

local CONFIG_KEYS = { rest_key = true, project_key = true, api_key = true, base_url = true,
  api_version = true, ca_file = true, proxy = true }

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function file_mode(path)
  local p = io.popen("stat -L -c %a " .. sh_quote(path) .. " 2>/dev/null")
  if not p then return nil end
  local out = p:read("*a") or ""
  p:close()
  return tonumber(out:match("^(%d+)"), 8)
end

--- Reads a config file: a table of settings, or nil when the default file is
-- absent. Raises a usage error when it is unsafe or malformed; values never
-- appear in messages.
function M.read_config(path, explicit)
  local f = io.open(path, "r")
  if not f then
    if explicit then usage(nil, "cannot read the config file " .. path) end
    return nil
  end
  local mode = file_mode(path)
  if not mode then
    f:close()
    usage(nil, "cannot check the permissions of the config file " .. path)
  end
  local function rw(bits) return bits % 8 >= 4 or math.floor(bits / 2) % 2 == 1 end
  if rw(math.floor(mode / 8) % 8) or rw(mode % 8) then    -- group or others may read or write it
    f:close()
    usage(nil, string.format("the config file %s is readable or writable by group or others (mode %03o); "
      .. "it holds keys: run chmod 600 %s", path, mode, path))
  end
  local conf, n = {}, 0
  for line in f:lines() do
    n = n + 1
    local body = line:gsub("^%s+", "")
    if body ~= "" and body:sub(1, 1) ~= "#" then
      local key, value = body:match("^([%w_%.%-]+)%s*=%s*(.-)%s*$")
      if not key then
        f:close()
        usage(nil, string.format("%s:%d: expected key = value", path, n))
      end
      key = key:lower():gsub("-", "_"):gsub("^batch_", "")
      if not CONFIG_KEYS[key] then
        f:close()
        usage(nil, string.format("%s:%d: unknown key %q (known: api_key, api_version, base_url, ca_file, "
          .. "project_key, proxy, rest_key)", path, n, key))
      end
      value = value:match('^"(.*)"$') or value:match("^'(.*)'$") or value
      conf[key] = value
    end
  end
  f:close()
  return conf
end

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

local function default_config_path()
  local p = env("BATCHEXPORT_CONFIG")
  if p then return p, true end
  local xdg = env("XDG_CONFIG_HOME")
  if xdg then return xdg .. "/batchexport/config", false end
  local home = env("HOME")
  if home then return home .. "/.config/batchexport/config", false end
  return nil
end

---------------------------------------------------------------------------
-- The run context: output, progress, the client

local Ctx = {}
Ctx.__index = Ctx

function Ctx:out(s)
  io.stdout:write(s)
end

function Ctx:outln(s)
  io.stdout:write(s, "\n")
end

function Ctx:json(v)
  io.stdout:write(encode(v), "\n")
end

function Ctx:client()
  if self._client then return self._client end
  local o = self.opts
  local conf = {}
  local path, explicit = default_config_path()
  if o.config then path, explicit = o.config, true end
  if path then conf = M.read_config(path, explicit) or {} end
  local settings = {
    rest_key = env("BATCH_REST_KEY") or conf.rest_key,
    project_key = env("BATCH_PROJECT_KEY") or conf.project_key,
    api_key = env("BATCH_API_KEY") or conf.api_key,
    base_url = o.base_url or env("BATCH_BASE_URL") or conf.base_url,
    api_version = o.api_version or env("BATCH_API_VERSION") or conf.api_version,
    ca_file = o.ca_file or env("BATCH_CA_FILE") or conf.ca_file,
    proxy = conf.proxy,
  }
  local p = self.progress
  -- --verbose: every request, retry, resumed transfer and status check, as
  -- the library logs them (keys masked by the C core). Otherwise nothing:
  -- the final error, if any, is the one line that matters.
  if o.verbose then
    settings.logger = function(level, line)
      p:alert("batchexport: " .. (level == "debug" and "" or (level .. ": ")) .. line)
    end
  end
  local client, err = batchexport.new(settings)
  if not client then error(err, 0) end
  self._client = client
  return client
end

-- Lazily decides whether to draw live progress (one `test -t 2`).
function Ctx:live()
  if self._live_checked then return self.progress end
  self._live_checked = true
  local o = self.opts
  local tty = not o.quiet and not o.no_progress and os.getenv("TERM") ~= "dumb" and progress.isatty(2)
  self.progress.tty = tty and true or false
  if tty then self.progress.width = progress.columns() end
  return self.progress
end

-- Runs fn() as a scheduler task and steps the scheduler every 0.1 s, calling
-- tick() in between, so live displays move even while nothing arrives.
-- Returns what fn returns; re-raises what it raises.
local function drive(fn, tick)
  local task = batchexport.spawn(fn)
  while true do
    batchexport.step(0.1)
    local st = task:status()
    if st == "done" or st == "failed" or st == "cancelled" then break end
    if tick then tick() end
  end
  local res = { n = 0 }
  local function keep(...) res = { n = select("#", ...), ... } end
  keep(task:result())
  if not res[1] then error(res[2], 0) end
  return (table.unpack or unpack)(res, 2, res.n)
end

-- Things to undo when interrupted (temporary files of a download).
function Ctx:on_interrupt(fn)
  self.cleanups[#self.cleanups + 1] = fn
end

---------------------------------------------------------------------------
-- Helpers

local function check(v, err)
  if v == nil or v == false then error(err, 0) end
  return v
end

local AGE = { s = 1, m = 60, h = 3600, d = 86400, w = 7 * 86400 }

-- "7d" -> a date that long ago (UTC) in the given os.date format.
local function when(v, fmt)
  if v == nil then return nil end
  local n, unit = v:match("^(%d+)([smhdw])$")
  if n then return os.date(fmt, os.time() - tonumber(n) * AGE[unit]) end
  return v
end

local function read_body(cmd, path)
  local text
  if path == "-" then
    text = io.stdin:read("*a")
  else
    local f = io.open(path, "rb")
    if not f then usage(cmd, "cannot read " .. path) end
    text = f:read("*a")
    f:close()
  end
  local ok, body = pcall(cjson.decode, text)
  if not ok or type(body) ~= "table" then usage(cmd, "--body: " .. path .. " is not a JSON object") end
  return body
end

-- The v2 create body from the command line.
local function create_body(cmd, args, o)
  if o.body then
    if args[1] then usage(cmd, "give either KIND and options, or --body, not both") end
    return read_body(cmd, o.body)
  end
  local kind = args[1]
  if not kind then usage(cmd, "which export? 'attributes' or 'events' (or --body FILE)") end
  kind = kind:lower()
  local function refuse(list)
    for _, name in ipairs(list) do
      if o[name:gsub("-", "_")] ~= nil then usage(cmd, "--" .. name .. " does not apply to " .. kind .. " exports") end
    end
  end
  if kind == "attributes" then
    refuse({ "events", "from", "to", "orchestration-ids" })
    if not o.attributes and not o.identifiers then
      usage(cmd, "an attributes export needs --attributes and/or --identifiers")
    end
    return { export_type = "ATTRIBUTES", attributes = o.attributes, identifiers = o.identifiers,
      filter = o.segment and { segment = o.segment } or nil }
  elseif kind == "events" then
    refuse({ "attributes", "segment" })
    if not o.events then usage(cmd, "an events export needs --events (e.g. --events email_open,push_sent)") end
    return { export_type = "EVENTS", events = o.events, identifiers = o.identifiers,
      orchestration_ids = o.orchestration_ids,
      from = when(o.from or "7d", "!%Y-%m-%dT%H:%M:%SZ"), to = when(o.to or "now", "!%Y-%m-%dT%H:%M:%SZ") }
  end
  usage(cmd, "unknown export kind '" .. args[1] .. "': 'attributes' or 'events'")
end

local function files_summary(e)
  local files = type(e.files) == "table" and e.files or {}
  local size = 0
  for _, f in ipairs(files) do size = size + (tonumber(f.size) or 0) end
  return #files, size
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- Waits for a v2 export or a legacy request with a live display.
local function wait_with_progress(ctx, label, wait_fn, id, o)
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
  if type(err) == "table" and type(err.export) == "table" and err.export.status then
    w:finish(err.export.status)
  else
    w:abandon()
  end
  error(err, 0)
end

-- Removes leftover temporary files of a download: the library writes
-- `.<final name>.<8 hex>.part` in the target folder.
local function sweep(dir, match)
  local p = io.popen("ls -1A -- " .. sh_quote(dir) .. " 2>/dev/null")
  if not p then return 0 end
  local n = 0
  for name in p:lines() do
    if match(name) and name:match("%.%x%x%x%x%x%x%x%x%.part$") then
      if os.remove(dir .. "/" .. name) then n = n + 1 end
    end
  end
  p:close()
  return n
end

local function escape_pattern(s)
  return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

local function safe_name(s)
  return require("batchexport.files").safe_name(s)
end

local function export_temp_matcher(id)
  local prefix = "^%." .. escape_pattern(safe_name(id)) .. "%-%d+%.json%."
  return function(name) return name:find(prefix) ~= nil end
end

-- Downloads a SUCCESS export into dir with a progress bar; returns paths.
local function download_export(ctx, export, dir, parallel)
  local client = ctx:client()
  local p = ctx:live()
  local match = export_temp_matcher(export.id)
  local stale = sweep(dir, match)
  if stale > 0 then p:note(string.format("removed %d leftover temporary file(s) of %s in %s", stale, export.id, dir)) end
  ctx:on_interrupt(function() sweep(dir, match) end)
  local count, total = files_summary(export)
  local m = p:meter(export.id)
  m:update(0, total)
  local paths, err = drive(function()
    return client.exports.download(export, { dir = dir, parallel = parallel,
      progress = function(done, t) m:update(done, t) end })
  end, function() m:tick() end)
  if not paths then
    m:abandon()
    sweep(dir, match)
    error(err, 0)
  end
  local elapsed = m:finish()
  if not p.tty then
    p:note(string.format("downloaded %d file(s), %s in %s", count, progress.bytes(total), progress.duration(elapsed)))
  end
  return paths
end

local function print_paths(ctx, export, paths)
  if ctx.opts.json then
    local files = {}
    local by_part = {}
    for _, f in ipairs(export.files or {}) do by_part[#by_part + 1] = f end
    table.sort(by_part, function(a, b) return (a.part or 0) < (b.part or 0) end)
    for i, path in ipairs(paths) do
      files[i] = { path = path, part = by_part[i] and by_part[i].part, size = by_part[i] and by_part[i].size }
    end
    ctx:json({ id = export.id, status = export.status, files = files })
  else
    for _, path in ipairs(paths) do ctx:outln(path) end
  end
end

-- Every record of a SUCCESS export, one JSON line each, as written by Batch.
local function cat_export(ctx, export)
  local client = ctx:client()
  local parts = {}
  for _, f in ipairs(export.files or {}) do parts[#parts + 1] = f end
  table.sort(parts, function(a, b) return (a.part or 0) < (b.part or 0) end)
  local n = 0
  for _, f in ipairs(parts) do
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
  local export = check(ctx:client().exports.view(id))
  if export.status == "ERROR" then
    error(errors.new("export_failed", "export " .. id .. " failed (status ERROR): it has no files",
      { export = export }), 0)
  elseif export.status ~= "SUCCESS" then
    usage(nil, "export " .. id .. " is " .. tostring(export.status) ..
      ", not SUCCESS: its files are not ready (batchexport wait " .. id .. ")")
  end
  return export
end

---------------------------------------------------------------------------
-- Sub-commands

local run = {}

function run.list(ctx, args, o)
  local client = ctx:client()
  local limit, cursor = o.limit, o.from
  local got, all, next_from = 0, {}, nil
  local text, header = not o.json, false
  while true do
    local want = limit and math.min(100, limit - got) or 100
    local pages = client.exports.pages({ limit = want, from = cursor })
    local page = pages()
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
  else
    io.stdout:flush()
    if next_from then
      ctx.progress:note(string.format("%d export(s); next: batchexport list --from %s", got, sh_quote(next_from)))
    else
      ctx.progress:note(string.format("%d export(s)", got))
    end
  end
  return 0
end

function run.view(ctx, args, o)
  local e = check(ctx:client().exports.view(args[1]))
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

function run.create(ctx, args, o)
  local body = create_body("create", args, o)
  local id = check(ctx:client().exports.create(body))
  if o.json then ctx:json({ id = id }) else ctx:outln(id) end
  return 0
end

function run.wait(ctx, args, o)
  local client = ctx:client()
  local e = wait_with_progress(ctx, args[1], client.exports.wait_for, args[1], o)
  if o.json then ctx:json(e) else ctx:outln(e.status) end
  return 0
end

function run.download(ctx, args, o)
  local export = finished_export(ctx, args[1])
  local dir = o.output or "."
  local paths = download_export(ctx, export, dir, o.parallel)
  print_paths(ctx, export, paths)
  return 0
end

function run.cat(ctx, args, o)
  local export = finished_export(ctx, args[1])
  local n = cat_export(ctx, export)
  io.stdout:flush()
  if o.verbose then ctx.progress:note(string.format("%d record(s)", n)) end
  return 0
end

function run.export(ctx, args, o)
  if o.cat and o.output then usage("export", "give -o DIR or --cat, not both") end
  if not o.cat and not o.output then
    usage("export", "say where the records go: -o DIR to download the files, or --cat to print them")
  end
  local body = create_body("export", args, o)
  local client = ctx:client()
  local id = check(client.exports.create(body))
  local p = ctx:live()
  p:note("created " .. id)
  local export = wait_with_progress(ctx, id, client.exports.wait_for, id, o)
  if o.cat then
    local n = cat_export(ctx, export)
    io.stdout:flush()
    p:note(string.format("%s: %d record(s)", id, n))
  else
    local paths = download_export(ctx, export, o.output, o.parallel)
    print_paths(ctx, export, paths)
  end
  return 0
end

run["legacy create"] = function(ctx, args, o)
  local fmt = "!%Y-%m-%dT%H:%M:%S"
  local kind = args[1]
  local params = { token = o.token, events = o.events, ids = o.ids }
  if kind ~= "userbase" then
    params.from = when(o.from or "7d", fmt)
    params.to = when(o.to or "now", fmt)
  else
    if o.from or o.to then usage("legacy create", "a userbase export takes no --from/--to (it is a snapshot)") end
  end
  local id = check(ctx:client().legacy.create(kind, params))
  if o.json then ctx:json({ id = id }) else ctx:outln(id) end
  return 0
end

run["legacy status"] = function(ctx, args, o)
  local s = check(ctx:client().legacy.status(args[1]))
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

run["legacy wait"] = function(ctx, args, o)
  local client = ctx:client()
  local s = wait_with_progress(ctx, args[1], client.legacy.wait_for, args[1], o)
  if o.json then ctx:json(s) else ctx:outln(s.status) end
  return 0
end

run["legacy download"] = function(ctx, args, o)
  local client = ctx:client()
  local path = o.output
  local p = ctx:live()
  local match_dir, match
  if path then
    match_dir = path:match("^(.*)/[^/]*$") or "."
    if match_dir == "" then match_dir = "/" end
    local prefix = "^%." .. escape_pattern(path:match("([^/]*)$")) .. "%."
    match = function(name) return name:find(prefix) ~= nil end
    local stale = sweep(match_dir, match)
    if stale > 0 then p:note(string.format("removed %d leftover temporary file(s) of %s", stale, path)) end
    ctx:on_interrupt(function() sweep(match_dir, match) end)
  end
  local m = p:meter(args[1])
  local saved, err = drive(function()
    return client.legacy.download(args[1], { path = path, progress = function(done) m:update(done) end })
  end, function() m:tick() end)
  if not saved then
    m:abandon()
    if match then sweep(match_dir, match) end
    error(err, 0)
  end
  local elapsed = m:finish()
  if not p.tty then
    p:note(string.format("downloaded %s in %s", progress.bytes(m.done), progress.duration(elapsed)))
  end
  if o.json then ctx:json({ id = args[1], path = saved }) else ctx:outln(saved) end
  return 0
end

local function csv_field(v)
  v = tostring(v)
  if v:find('[;"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

run["legacy rows"] = function(ctx, args, o)
  local client = ctx:client()
  local header = not o.no_header
  if o.json then
    for row in client.legacy.rows(args[1], { header = header }) do ctx:json(row) end
    return 0
  end
  -- Text: the CSV as Batch wrote it (fields re-quoted where needed).
  local skip = not header
  for row in client.legacy.rows(args[1], { header = false }) do
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

---------------------------------------------------------------------------
-- main

local function help_text(name)
  if name == nil then return MAIN_HELP end
  return HELP[name]
end

local function exit_code(err)
  if getmetatable(err) == Usage then return M.EXIT.usage end
  if is_interrupt(err) then return M.EXIT.interrupted end
  if type(err) ~= "table" then return M.EXIT.error end
  local k = err.kind
  if k == "export_failed" then return M.EXIT.failed end
  if k == "expired" then return M.EXIT.expired end
  if k == "timeout" and err.elapsed ~= nil then return M.EXIT.timeout end
  if k == "validation" or k == "config" then return M.EXIT.usage end
  return M.EXIT.error
end

local function one_line(err)
  local s
  if type(err) == "table" and getmetatable(err) and getmetatable(err).__tostring then
    s = tostring(err)
  elseif type(err) == "table" and err.message then
    s = "batchexport: " .. tostring(err.kind or "error") .. ": " .. tostring(err.message)
  else
    s = "batchexport: internal error: " .. (tostring(err):match("^[^\n]*")) ..
      " (BATCHEXPORT_DEBUG=1 shows where)"
  end
  return (s:gsub("[\r\n]+", " "))
end

--- cli.main(argv) -> exit status. argv is the script's `arg` table (1-based).
function M.main(argv)
  local ctx = setmetatable({ opts = {}, cleanups = {}, progress = progress.new({ quiet = false }) }, Ctx)
  ctx.progress.tty = nil
  local cmd_name

  local ok, result = xpcall(function()
    -- Global options before the command.
    local i, opts, pre = 1, ctx.opts, {}
    while argv[i] and argv[i]:sub(1, 1) == "-" and argv[i] ~= "-" do
      pre[#pre + 1] = argv[i]
      local spec
      local name = argv[i]:match("^%-%-([^=]+)")
      for _, s in ipairs(GLOBAL) do
        if name == s[1] or argv[i] == "-" .. (s.short or "\0") then spec = s end
      end
      if spec and spec.arg and not argv[i]:find("=", 1, true) then
        i = i + 1
        pre[#pre + 1] = argv[i]
      end
      i = i + 1
    end
    parse(nil, pre, 1, GLOBAL, opts, {})
    if opts.version then io.stdout:write(batchexport._VERSION, "\n") return 0 end
    local word = argv[i]
    if word == nil then
      if opts.help then io.stdout:write(MAIN_HELP) return 0 end
      usage(nil, "which command? (batchexport --help lists them)")
    end
    i = i + 1
    if word == "help" then
      local topic = argv[i]
      if topic == "legacy" and argv[i + 1] then topic = "legacy " .. argv[i + 1] end
      local text = help_text(topic)
      if not text then usage(nil, "no help for '" .. tostring(topic) .. "' (batchexport --help lists the commands)") end
      io.stdout:write(text, text:sub(-1) == "\n" and "" or "\n")
      return 0
    end
    cmd_name = word
    if word == "legacy" then
      local sub = argv[i]
      if sub == nil or sub == "-h" or sub == "--help" then
        if sub then io.stdout:write(HELP.legacy, "\n") return 0 end
        usage("legacy", "which legacy command? create, status, wait, download or rows")
      end
      cmd_name = "legacy " .. sub
      if not COMMANDS[cmd_name] then
        cmd_name = "legacy"
        usage("legacy", "unknown legacy command '" .. sub .. "': create, status, wait, download or rows")
      end
      i = i + 1
    end
    local cmd = COMMANDS[cmd_name]
    if not cmd then
      local name = cmd_name
      cmd_name = nil
      usage(nil, "unknown command '" .. name .. "' (batchexport --help lists them)")
    end
    local args = {}
    parse(cmd_name, argv, i, concat_opts(cmd.opts, GLOBAL), opts, args)
    if opts.help then
      io.stdout:write(HELP[cmd_name], "\n")
      return 0
    end
    if #args < cmd.min then usage(cmd_name, "missing " .. cmd.args) end
    if #args > cmd.max then usage(cmd_name, "unexpected argument '" .. args[cmd.max + 1] .. "'") end
    ctx.progress.quiet = opts.quiet and true or false
    return run[cmd_name](ctx, args, opts)
  end, function(e)
    if is_interrupt(e) or type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
  end)

  if ok then
    io.stdout:flush()
    return result
  end
  local err = result
  pcall(function() ctx.progress:clear() end)
  if is_interrupt(err) then
    for _, fn in ipairs(ctx.cleanups) do pcall(fn) end
    io.stderr:write("\nbatchexport: interrupted\n")
    return M.EXIT.interrupted
  end
  pcall(io.stdout.flush, io.stdout)
  if getmetatable(err) == Usage then
    local where = err.cmd and ("batchexport " .. err.cmd) or "batchexport"
    io.stderr:write(where, ": ", err.msg, "\n")
    io.stderr:write("Try '", where, " --help'.\n")
    return M.EXIT.usage
  end
  for _, fn in ipairs(ctx.cleanups) do pcall(fn) end
  io.stderr:write(one_line(err), "\n")
  if type(err) ~= "table" and os.getenv("BATCHEXPORT_DEBUG") then io.stderr:write(tostring(err), "\n") end
  local code = exit_code(err)
  if ctx.opts.json and type(err) == "table" and type(err.export) == "table" and (code == 3 or code == 4) then
    io.stdout:write(encode(err.export), "\n")
  end
  return code
end

M.exit_code = exit_code
M.parse = parse
M.HELP = HELP
M.MAIN_HELP = MAIN_HELP

return M
