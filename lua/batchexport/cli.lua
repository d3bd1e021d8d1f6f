--- batchexport.cli: the `batchexport` command (bin/batchexport), as a module
-- so it is testable and installed with the library.
--
--   local code = require("batchexport.cli").main(arg)   -- returns the exit status
--
-- The command is split by concern under batchexport.cli.*: args (every
-- sub-command and option, with lua-argparse), config (the config file,
-- profiles, advice), output (stdout, stderr, the client), progress (the live
-- display), term (the system's help: isatty, echo, modes), exports and
-- legacy (the sub-commands of each API), setup (configure, completion, help),
-- manpage (batchexport.1).
--
-- Exit status: 0 ok; 1 API or network error; 2 usage or configuration;
-- 3 the export failed (ERROR); 4 the legacy export expired (EXPIRED);
-- 5 a wait ran past --timeout; 6 sync: nothing to do; 7 sync: another run
-- holds the lock; 8 sync: gap refused; 130 interrupted (Ctrl-C).
local batchexport = require("batchexport")
local args = require("batchexport.cli.args")
local output = require("batchexport.cli.output")

local M = {}

M.EXIT = { ok = 0, error = 1, usage = 2, failed = 3, expired = 4, timeout = 5, interrupted = 130 }
M.encode = output.encode

local function is_interrupt(e)
  return type(e) == "string" and e:find("interrupted!$") ~= nil
end

local function exit_code(err)
  if getmetatable(err) == args.Usage then return M.EXIT.usage end
  if is_interrupt(err) then return M.EXIT.interrupted end
  if type(err) ~= "table" then return M.EXIT.error end
  local k = err.kind
  if k == "export_failed" then return M.EXIT.failed end
  if k == "expired" then return M.EXIT.expired end
  if k == "timeout" and err.elapsed ~= nil then return M.EXIT.timeout end
  if k == "validation" or k == "config" then return M.EXIT.usage end
  return M.EXIT.error
end
M.exit_code = exit_code

-- The function that runs the parsed command line.
local function handler(o)
  local family
  if o.command == "legacy" then
    if not o.legacy_command then
      args.usage("legacy", "which legacy command? create, status, wait, download or rows")
    end
    return require("batchexport.cli.legacy").run[o.legacy_command]
  elseif o.command == "sync" then
    if not o.sync_command then args.usage("sync", "which sync? events, legacy or attributes") end
    return require("batchexport.cli.sync").run[o.sync_command]
  elseif o.command == "configure" or o.command == "completion" or o.command == "help" then
    family = require("batchexport.cli.setup")
  else
    family = require("batchexport.cli.exports")
  end
  return family.run[o.command]
end

local function run(ctx, argv)
  local o = args.parse(argv)
  ctx.opts = o
  ctx.progress.quiet = o.quiet and true or false
  if o.version then
    if o.command then args.usage("", "--version takes no command") end
    io.stdout:write(batchexport._VERSION, "\n")
    return 0
  end
  if not o.command then args.usage("", "which command? (batchexport --help lists them)") end
  return handler(o)(ctx, o)
end

local function report_usage(err)
  local where = err.path ~= "" and ("batchexport " .. err.path) or "batchexport"
  io.stderr:write(where, ": ", err.message, "\n")
  io.stderr:write("Try '", where, " --help'.\n")
end

--- cli.main(argv) -> exit status. argv is the script's `arg` table (1-based).
function M.main(argv)
  local ctx = output.context({})
  local ok, result = xpcall(run, function(e)
    if is_interrupt(e) or type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
  end, ctx, argv)

  if ok then
    io.stdout:flush()
    return result
  end
  local err = result
  pcall(function() ctx.progress:clear() end)
  if getmetatable(err) == args.Help then
    io.stdout:write(err.parser:get_help(), "\n")
    return M.EXIT.ok
  end
  if is_interrupt(err) then
    io.stderr:write("\nbatchexport: interrupted\n")
    return M.EXIT.interrupted
  end
  pcall(io.stdout.flush, io.stdout)
  if getmetatable(err) == args.Usage then
    report_usage(err)
    return M.EXIT.usage
  end
  io.stderr:write(output.error_line(err), "\n")
  if type(err) ~= "table" and os.getenv("BATCHEXPORT_DEBUG") then io.stderr:write(tostring(err), "\n") end
  local code = exit_code(err)
  if ctx.opts.json and type(err) == "table" and type(err.export) == "table" and (code == 3 or code == 4) then
    ctx:final(err.export)
  end
  return code
end

return M
