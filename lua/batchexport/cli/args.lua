--- batchexport.cli.args: every sub-command, option and argument of the
-- `batchexport` command, defined once with lua-argparse. The parser, the
-- help texts, the shell completions (bash, zsh, fish), the man page
-- (cli/manpage.lua) and the README check (spec/cli_conventions_spec.lua)
-- all come from these definitions.
--
--   local ok, result = args.parse(argv)   -- result.command, result.legacy_command, options...
--
-- args.parse raises an args.Usage (exit 2) or an args.Help (print, exit 0)
-- object; nothing here exits the process.
local argparse = require("argparse")

local M = {}

M.Usage = {}
M.Usage.__index = M.Usage
M.Help = {}
M.Help.__index = M.Help

-- A paragraph written over several lines in the source, as one line (the
-- help and the man page wrap it to their own width).
local function prose(text)
  return (text:gsub("%s*\n%s*", " "):gsub("^%s+", ""):gsub("%s+$", ""))
end

--- Text shared by `batchexport --help` and the man page.
M.ABOUT = "batchexport: Batch's Export APIs (v2 Exports and legacy 1.0) from the command line."

M.CREDENTIALS = prose([[
Keys come from the environment: BATCH_REST_KEY (both APIs), BATCH_PROJECT_KEY (v2), BATCH_API_KEY
(legacy); or from the config file ($BATCHEXPORT_CONFIG, else $XDG_CONFIG_HOME/batchexport/config,
else ~/.config/batchexport/config), which `batchexport configure` writes: `key = value` lines
(rest_key, project_key, api_key, base_url, api_version, ca_file, proxy, allow_http), a [NAME]
section per profile, readable by its owner only (chmod 600). The profile is chosen with --profile or
BATCH_PROFILE (default: the keys before any section). The environment overrides the file; flags
override both. Keys are never printed.]])

M.EXIT_STATUS = {
  { "0", "success" },
  { "1", "API or network error (the error's one line on stderr)" },
  { "2", "wrong usage or configuration (an option, a key, the config file)" },
  { "3", "the export failed (status ERROR)" },
  { "4", "the legacy export expired (status EXPIRED)" },
  { "5", "a wait ran past --timeout" },
  { "6", "sync: nothing to do (no new range yet)" },
  { "7", "sync: another sync run holds the folder's lock (this one did nothing)" },
  { "8", "sync: the watermark is past the 90-day lookback (see --accept-gap)" },
  { "130", "interrupted (Ctrl-C): no partial or temporary file is left" },
}

M.ENVIRONMENT = {
  { "BATCH_REST_KEY", "the REST API key (both APIs)" },
  { "BATCH_PROJECT_KEY", "the project key (v2 exports)" },
  { "BATCH_API_KEY", "the app's Live API key (legacy 1.0 exports)" },
  { "BATCH_PROFILE", "the config file's profile to use (as --profile)" },
  { "BATCH_BASE_URL", "the API root (as --base-url)" },
  { "BATCH_API_VERSION", "the v2 API version (as --api-version)" },
  { "BATCH_CA_FILE", "a CA bundle (as --ca-file)" },
  { "BATCHEXPORT_CONFIG", "the config file's path" },
  { "TERM, COLUMNS", "no live progress when TERM is dumb; the progress line's width" },
}

local function exit_status_text()
  local out = { "Exit status:" }
  for _, row in ipairs(M.EXIT_STATUS) do out[#out + 1] = string.format("   %-4s %s", row[1], row[2]) end
  return table.concat(out, "\n")
end

---------------------------------------------------------------------------
-- Values

local function split_list(value)
  local out = {}
  for item in value:gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

-- A list option: comma-separated, repeatable; the items accumulate.
local function append_items(result, target, value)
  local list = result[target] or {}
  for _, item in ipairs(split_list(value)) do list[#list + 1] = item end
  result[target] = list
end

local function positive(name, whole)
  return function(value)
    local n = tonumber(value)
    if n and n > 0 and n < math.huge and (not whole or n == math.floor(n)) then
      return whole and math.floor(n) or n
    end
    return nil, string.format("option '%s' expects %s, got '%s'", name,
      whole and "a whole number > 0" or "a number of seconds > 0", value)
  end
end

---------------------------------------------------------------------------
-- Building blocks

local path_of = setmetatable({}, { __mode = "k" })

--- args.usage(path, message): raises the usage error of the command at path.
function M.usage(path, message)
  error(setmetatable({ path = path, message = message }, M.Usage), 0)
end

-- Options that mean something in another command, and what to say when
-- one is given where it has no place.
local ELSEWHERE = {
  list = { ["--from"] = "list has no --from (a time, in create events): to resume a listing, give "
    .. "--cursor CURSOR, the cursor a previous `list --limit` printed" },
}

local function usage_error(parser, message)
  local path = path_of[parser] or ""
  local option = message:match("^unknown option '([^']+)'")
  local hint = option and ELSEWHERE[path] and ELSEWHERE[path][option]
  M.usage(path, hint or message)
end

-- Every parser gets -h/--help raising an args.Help for itself, and reports
-- errors as args.Usage (argparse's own would print and exit).
local function prepare(parser, path)
  path_of[parser] = path
  parser:add_help(false)
  parser.error = usage_error
  parser:flag("-h --help"):description("Show this help and exit.")
    :action(function() error(setmetatable({ parser = parser, path = path }, M.Help), 0) end)
  return parser
end

local function command(parent, name, summary, description, epilog)
  local path = path_of[parent] == "" and name or (path_of[parent] .. " " .. name)
  local c = parent:command(name):summary(summary):description(description or summary)
  if epilog then c:epilog(epilog) end
  return prepare(c, path)
end

local function argument(c, name, target, description)
  return c:argument(name):target(target):description(description)
end

local function list_option(c, names, argname, description)
  return c:option(names):argname(argname):description(description):count("*"):action(append_items)
end

local function create_options(c)
  list_option(c, "-a --attributes", "LIST", "attributes export: attributes to export ($-names are native: "
    .. "'$email_address,$language'; others are custom).")
  list_option(c, "-i --identifiers", "LIST", "custom_id and/or installation_ids (attributes), custom_id (events).")
  c:option("--segment"):argname("CODE"):description("attributes export: only profiles of this segment "
    .. "(rate-limited by Batch).")
  list_option(c, "-e --events", "LIST", "events export: e.g. email_open,push_sent (at least one).")
  c:option("--from"):argname("TIME"):description("events export: the start, RFC 3339 (2024-05-01T00:00:00Z) "
    .. "or an age: 30m, 12h, 7d, 2w (default 7d).")
  c:option("--to"):argname("TIME"):description("events export: the end, RFC 3339, an age, or now (default now).")
  list_option(c, "--orchestration-ids", "LIST", "events export: only these orchestrations.")
  c:option("--body"):argname("FILE"):description("the whole request body as JSON (FILE, or - for stdin) "
    .. "instead of KIND and the options above.")
end

local function wait_options(c)
  c:option("--timeout"):argname("S"):convert(positive("--timeout")):description("give up after S seconds, "
    .. "exit 5 (default: no limit).")
  c:option("--interval"):argname("S"):convert(positive("--interval")):description("first pause between "
    .. "status checks (default 5; pauses grow to 60 s).")
end

local function parallel_option(c)
  c:option("--parallel"):argname("N"):convert(positive("--parallel", true))
    :description("files fetched at once (default 2).")
end

local KINDS = { "attributes", "events" }
M.LEGACY_KINDS = { "campaign_ids", "campaign_events", "transactional_ids", "transactional_events",
  "inapp_ids", "inapp_events", "reachability", "userbase" }

---------------------------------------------------------------------------
-- The command line

local function v2_commands(root)
  local list = command(root, "list", "List exports, newest first.", prose([[
List exports, newest first: every one, or at most N from CURSOR on. When --limit stops before the
end, the cursor to resume from is printed on stderr ("next: batchexport list --cursor CURSOR"), and
is "next_from" with --json. Text: one export a line (id, status, scope, request date, files).
--json: {"exports": [...], "count": n, "next_from": cursor-or-absent}.]]))
  list:option("--limit"):argname("N"):convert(positive("--limit", true))
    :description("at most N exports in all (default: every one). Not the library's page size: "
      .. "pages are fetched 100 a request.")
  list:option("--cursor"):argname("CURSOR"):description("start where a previous listing stopped (its next_from).")

  local c = command(root, "view", "Show one export.", "Show one export: status, scope, dates, the request and "
    .. "its files. --json: the export object as the API gives it.")
  argument(c, "ID", "id", "the export's id (export_...).")

  c = command(root, "create", "Request an export; print its id.", prose([[
Request an export and print its id (--json: {"id": "..."}). The request is checked before it is
sent; every problem is reported at once (exit 2).]]))
  argument(c, "KIND", "kind", "attributes or events (or --body FILE)."):choices(KINDS):args("?")
  create_options(c)

  c = command(root, "wait", "Wait until an export ends; print its final status.", prose([[
Wait until the export is SUCCESS (exit 0) or ERROR (exit 3), or --timeout passes (exit 5). On a
terminal the status and elapsed time are shown live; elsewhere each status change is a note on
stderr. Prints the final status, ERROR included (--json: the export).]]))
  argument(c, "ID", "id", "the export's id (export_...).")
  wait_options(c)

  c = command(root, "download", "Save an export's files; print their paths.", prose([[
Save every file of a SUCCESS export into DIR (default: the current folder; created if missing) as
<id>-<part>.json (.json.gz when the part is gzip) and print their paths (--json: {"id", "status",
"files": [{"path", "part", "size"}]}). Each file goes to a hidden temporary file first and is
renamed once checked: a final name only ever holds a whole file. Leftover temporary files of this
export (from a killed run) are removed first, and on Ctrl-C.]]))
  argument(c, "ID", "id", "the export's id (export_...).")
  c:option("-o --output"):argname("DIR"):description("where to save (default: the current folder).")
  parallel_option(c)

  c = command(root, "cat", "Print every record as one JSON line.", prose([[
Print every record of every part, in order, as one JSON line each, exactly as Batch wrote it (gzip
is inflated; a JSON array is split into its records). Pipe it: batchexport cat ID | jq -r .custom_id
With --fields, each line holds only those fields (decoded, then written again as JSON).]]))
  argument(c, "ID", "id", "the export's id (export_...).")
  list_option(c, "--fields", "LIST", "only these fields of each record: paths such as "
    .. "custom_id,attributes.$email_address (absent ones are left out).")

  c = command(root, "export", "Create, wait, then download or cat, in one go.", prose([[
Create an export, wait for it (with progress), then download its files into DIR (printing their
paths) or, with --cat, print its records as JSON lines. Exit 3 if it fails, 5 past --timeout.]]))
  argument(c, "KIND", "kind", "attributes or events (or --body FILE)."):choices(KINDS):args("?")
  c:option("-o --output"):argname("DIR"):description("download into DIR.")
  c:flag("--cat"):description("print the records instead.")
  c:mutex(c._options[#c._options - 1], c._options[#c._options])
  create_options(c)
  wait_options(c)
  parallel_option(c)
end

local function legacy_commands(root)
  local legacy = command(root, "legacy", "The legacy 1.0 Export API.", "The legacy 1.0 Export API (needs "
    .. "BATCH_REST_KEY and BATCH_API_KEY).")
  legacy:command_target("legacy_command"):require_command(false)

  local c = command(legacy, "create", "Request a legacy export; print its request id.",
    "Request a legacy export and print its request id (--json: {\"id\": \"...\"}).")
  argument(c, "KIND", "kind", table.concat(M.LEGACY_KINDS, ", ") .. "."):convert(function(kind)
    for _, known in ipairs(M.LEGACY_KINDS) do
      if kind == known then return kind end
    end
    return nil, "unknown legacy export kind '" .. kind .. "': one of " .. table.concat(M.LEGACY_KINDS, ", ")
  end)
  c:option("--token"):argname("T"):description("campaign token (campaign_*, inapp_*) or group id "
    .. "(transactional_*).")
  c:option("--from"):argname("D"):description("YYYY-MM-DDTHH:MM:SS (UTC), now, or an age: 12h, 7d "
    .. "(default 7d; not for userbase).")
  c:option("--to"):argname("D"):description("the same (default now; not for userbase).")
  list_option(c, "-e --events", "LIST", "push_sent,push_open,push_error (campaign, transactional) or "
    .. "inapp_shown,inapp_clicked,inapp_closed (in-app); not for reachability or userbase.")
  list_option(c, "--ids", "LIST", "install_id,custom_id,advertising_id (at least one).")

  c = command(legacy, "status", "Show a request's status.", "Show a legacy request's status (--json: the "
    .. "status object; the API key in its URLs is shown as ***). Exit 0 whatever the status.")
  argument(c, "ID", "id", "the request id (legacy create printed it).")

  c = command(legacy, "wait", "Wait until a request ends; print its final status.", "Wait until the request "
    .. "is SUCCESS (exit 0), ERROR (exit 3), EXPIRED (exit 4) or --timeout passes (exit 5), showing status "
    .. "and elapsed time. Prints the final status (--json: the status object).")
  argument(c, "ID", "id", "the request id (legacy create printed it).")
  wait_options(c)

  c = command(legacy, "download", "Save the CSV; print its path.", "Save the CSV to FILE (default: the "
    .. "file's own name in the current folder) through a temporary file renamed once complete; print the path.")
  argument(c, "ID", "id", "the request id (legacy create printed it).")
  c:option("-o --output"):argname("FILE"):description("where to save.")

  c = command(legacy, "rows", "Print the CSV's rows.", "Print the CSV's rows, streamed: ';'-separated as "
    .. "Batch wrote them (quoted where needed), or with --json one JSON object per row keyed by the header's "
    .. "names (arrays with --no-header).")
  argument(c, "ID", "id", "the request id (legacy create printed it).")
  c:flag("--no-header"):description("no header row (text); arrays instead of objects (--json).")
end

local function duration(name)
  return function(value)
    if value:match("^%d+[smhdw]$") and not value:match("^0+[smhdw]$") then return value end
    return nil, string.format("option '%s' expects a duration such as 90s, 15m, 12h, 1d, 2w, got '%s'",
      name, value)
  end
end

local function sync_options(c, ranges)
  c:option("--dir"):argname("DIR"):description("the landing folder (state, lock and data go in "
    .. "DIR/<kind>/).")
  if ranges then
    c:option("--since"):argname("TIME"):description("where the first run starts: an age (7d) or RFC 3339 "
      .. "(default 1d); later runs go on from the state's watermark.")
      :convert(function(value)
        if value:match("^%d+[smhdw]$") or value:match("^%d%d%d%d%-%d%d%-%d%dT") then return value end
        return nil, "option '--since' expects an age such as 7d or an RFC 3339 date-time, got '" .. value .. "'"
      end)
    c:option("--lag"):argname("AGE"):convert(duration("--lag")):description("leave the last AGE for a "
      .. "later run: events still arriving (default 15m).")
    c:option("--max-range"):argname("AGE"):convert(duration("--max-range")):description("one export per "
      .. "range of at most AGE (default 1d).")
    c:flag("--accept-gap"):description("when the watermark is past the 90-day lookback, record the range "
      .. "that can no longer be exported in the state's history and go on (else: exit 8).")
  end
  c:option("--now"):argname("TIME"):description("the instant the run treats as now, RFC 3339 (default: "
    .. "the clock); for backfills and tests.")
  wait_options(c)
end

local function sync_commands(root)
  local sync = command(root, "sync", "Land new exports in a folder, exactly once (for cron).", prose([[
Incremental exports a cron job can trust: each run lands what is new in DIR/<kind>/, one folder a
range or snapshot beside a manifest.json (export id, range, each file's name, size, sha256 and record
count), then advances the state's watermark. A run killed at any moment and run again lands the same
files, no range twice. Quiet on success unless -v; --json prints the summary. Exit 0 landed, 6 nothing
to do, 7 another run holds the lock, 8 gap refused.]]))
  sync:command_target("sync_command"):require_command(false)

  local c = command(sync, "events", "Land the events since the last run, range by range.", prose([[
Land the events since the last run: exports of at most --max-range from the watermark up to now minus
--lag, each in DIR/events/<from>_<to>/.]]))
  list_option(c, "-e --events", "LIST", "e.g. email_open,push_sent (at least one).")
  list_option(c, "-i --identifiers", "LIST", "custom_id.")
  sync_options(c, true)

  c = command(sync, "legacy", "Land a legacy kind's events since the last run.", prose([[
Land a legacy 1.0 export kind with a time range (not userbase) since the last run, range by range,
each in DIR/legacy-KIND[-TOKEN]/<from>_<to>/ (needs BATCH_API_KEY). The legacy API lists no
requests: a run killed between a create and the save of its id asks again next time.]]))
  argument(c, "KIND", "kind", "campaign_ids, campaign_events, transactional_ids, transactional_events, "
    .. "inapp_ids, inapp_events or reachability.")
  c:option("--token"):argname("T"):description("campaign token or group id (not for reachability).")
  list_option(c, "-e --events", "LIST", "push_sent,push_open,push_error or inapp_shown,inapp_clicked,inapp_closed.")
  list_option(c, "--ids", "LIST", "install_id,custom_id,advertising_id (at least one).")
  sync_options(c, true)

  c = command(sync, "attributes", "Land a dated snapshot of profile attributes.", prose([[
Land a snapshot of the profiles' attributes in DIR/attributes/<stamp>/ and keep the last --keep.]]))
  list_option(c, "-a --attributes", "LIST", "attributes to export ($-names are native).")
  list_option(c, "-i --identifiers", "LIST", "custom_id and/or installation_ids.")
  c:option("--keep"):argname("N"):convert(positive("--keep", true)):description("snapshots kept (default 7).")
  sync_options(c, false)
end

local function setup_commands(root)
  local c = command(root, "configure", "Save keys in the config file.", prose([[
Ask for each key (typed without echo on a terminal; an empty answer keeps the one saved) and write
them to the config file, readable by its owner only (0600, in a folder created 0700), under the
profile's [NAME] section with --profile. With --verify, one cheap call checks them first; keys Batch
refuses are not saved.]]))
  c:flag("--verify"):description("check the keys with one call before saving them.")

  c = command(root, "completion", "Print a shell completion script.", prose([[
Print a completion script for bash, zsh or fish. bash: source <(batchexport completion bash) in
~/.bashrc; zsh: batchexport completion zsh > "${fpath[1]}/_batchexport"; fish: batchexport
completion fish > ~/.config/fish/completions/batchexport.fish]]))
  argument(c, "SHELL", "shell", "bash, zsh or fish."):choices({ "bash", "zsh", "fish" })

  c = command(root, "help", "Show help for a command.", "Show this help, or a command's (also: COMMAND --help).")
  argument(c, "COMMAND", "topic", "a command, e.g. list or legacy create."):args("*")
end

local function global_options(root)
  root:option("--base-url"):argname("URL"):description("API root (default https://api.batch.com; env "
    .. "BATCH_BASE_URL): the mock's MOCK_API_URL, or a proxy.")
  root:option("--api-version"):argname("V"):description("v2 API version in the path (default 2.11).")
  root:option("--ca-file"):argname("FILE"):description("CA bundle (PEM) to verify the server with.")
  root:flag("--allow-http"):description("allow a plain http:// base URL to a host other than this machine "
    .. "(keys then travel in clear; config key allow_http).")
  root:option("--config"):argname("FILE"):description("config file (default $BATCHEXPORT_CONFIG, else "
    .. "~/.config/batchexport/config).")
  root:option("--profile"):argname("NAME"):description("the config file's [NAME] section (env BATCH_PROFILE).")
    :convert(function(name)
      if name:match("^[%w_%.%-]+$") then return name end
      return nil, "option '--profile' expects a name of letters, digits, '_', '.' or '-', got '" .. name .. "'"
    end)
  root:flag("--json"):description("machine-readable output on stdout.")
  root:flag("-q --quiet"):description("no progress and no notes; errors only.")
  root:flag("-v --verbose"):description("log every request, retry and status check to stderr (keys masked).")
  root:flag("--no-progress"):description("no live progress line, even on a terminal.")
  root:flag("--version"):description("print the version and exit.")
end

--- args.parser() -> the argparse parser of the whole command line.
function M.parser()
  local root = argparse("batchexport"):description(M.ABOUT)
    :epilog(M.CREDENTIALS .. "\n\n" .. exit_status_text())
    :command_target("command"):require_command(false):help_max_width(80)
    :help_description_margin(27)
  prepare(root, "")
  global_options(root)
  v2_commands(root)
  legacy_commands(root)
  setup_commands(root)
  sync_commands(root)
  root:group("v2 exports", root._commands[1], root._commands[2], root._commands[3], root._commands[4],
    root._commands[5], root._commands[6], root._commands[7])
  root:group("Legacy 1.0 exports", root._commands[8])
  root:group("Setup and help", root._commands[9], root._commands[10], root._commands[11])
  root:group("Incremental sync", root._commands[12])
  return root
end

--- args.parse(argv) -> the parsed command line (a table), or raises an
-- args.Usage or args.Help. argv: an array of strings (script's `arg`).
function M.parse(argv)
  local words = {}
  for i = 1, #argv do words[i] = argv[i] end
  local result = M.parser():parse(words)
  -- A list option not given is absent, not an empty list.
  for k, v in pairs(result) do
    if type(v) == "table" and next(v) == nil then result[k] = nil end
  end
  return result
end

--- args.find(path) -> the parser of the command at path ("legacy create"),
-- the root for "", or nil.
function M.find(root, path)
  local p = root
  for word in path:gmatch("%S+") do
    local found
    for _, c in ipairs(p._commands) do
      if c._name == word then found = c end
    end
    if not found then return nil end
    p = found
  end
  return p
end

--- args.path(parser) -> "legacy create" for that command's parser.
function M.path(parser)
  return path_of[parser]
end

---------------------------------------------------------------------------
-- The definitions as plain data, for the man page and the README check.

local function describe_options(parser)
  local out = {}
  for _, o in ipairs(parser._options) do
    if not o._hidden then
      out[#out + 1] = { names = o._aliases, argname = o._maxargs > 0 and (o._argname or o._name) or nil,
        description = o._description or "" }
    end
  end
  return out
end

--- args.walk(fn): calls fn(path, parser, info) for every command that takes
-- no sub-command, in definition order; info = {usage, summary, description,
-- options = {{names, argname, description}}, epilog}.
function M.walk(fn, root)
  root = root or M.parser()
  local function visit(p)
    for _, c in ipairs(p._commands) do
      if #c._commands > 0 then
        visit(c)
      else
        fn(path_of[c], c, { usage = c:get_usage():gsub("^Usage: ", ""), summary = c._summary,
          description = c._description, options = describe_options(c), epilog = c._epilog })
      end
    end
  end
  visit(root)
  return root
end

--- args.global_options() -> a set of every global option's names.
function M.global_options()
  local set = {}
  for _, o in ipairs(M.parser()._options) do
    for _, alias in ipairs(o._aliases) do set[alias] = true end
  end
  return set
end

--- args.commands() -> {{path = "legacy create", options = set of names
-- (its own and the global ones)}} for every runnable command.
function M.commands()
  local global = M.global_options()
  local out = {}
  M.walk(function(path, parser)
    local options = {}
    for name in pairs(global) do options[name] = true end
    for _, o in ipairs(parser._options) do
      if not o._hidden then for _, alias in ipairs(o._aliases) do options[alias] = true end end
    end
    out[#out + 1] = { path = path, options = options }
  end)
  return out
end

M.describe_options = describe_options

return M
