--- batchexport.cli.setup: the sub-commands about the command itself:
-- configure (keys into the config file), completion and help.
local batchexport = require("batchexport")
local errors = require("batchexport.errors")
local args = require("batchexport.cli.args")
local config = require("batchexport.cli.config")
local term = require("batchexport.cli.term")

local M = {}
local run = {}
M.run = run

-- Reads one line from stdin without echo on a terminal; nil at the end.
-- The line ends on stderr either way (the Enter typed is not echoed).
local function ask_secret(prompt)
  io.stderr:write(prompt)
  io.stderr:flush()
  local silenced = term.echo(false)
  local ok, line = pcall(io.read, "*l")
  if silenced then term.echo(true) end
  io.stderr:write("\n")
  if not ok then error(line, 0) end
  return line and line:match("^%s*(.-)%s*$")
end

-- One cheap call per API the keys are for: the first page of one export
-- (v2), the status of a request that cannot exist (legacy: 404 means the
-- keys were accepted). Returns nil, err when Batch refuses them.
local function verify(settings)
  local client, err = batchexport.new(settings)
  if not client then return nil, config.advise(err) end
  local checked = {}
  if settings.rest_key and settings.project_key then
    local ok, page_or_err = pcall(client.exports.pages({ limit = 1 }))
    if not ok then return nil, page_or_err end
    checked[#checked + 1] = "v2"
  end
  if settings.rest_key and settings.api_key then
    local status, why = client.legacy.status("00000000-0000-0000-0000-000000000000")
    if not status and not (errors.is(why) and why.status == 404) then return nil, why end
    checked[#checked + 1] = "legacy 1.0"
  end
  client:close()
  return checked
end

function run.configure(ctx, o)
  local path = config.path(o.config)
  if not path then error(errors.new("config", "no config file path: set HOME, XDG_CONFIG_HOME or "
    .. "BATCHEXPORT_CONFIG, or give --config FILE"), 0) end
  local profile = config.profile(o)
  local conf = config.read(path, false)
  local saved = conf and conf.profiles[profile] or {}
  io.stderr:write(string.format("Keys for the %s profile, saved in %s (an empty answer keeps the saved key):\n",
    profile, path))
  local values, merged = {}, {}
  for k, v in pairs(saved) do merged[k] = v end
  for _, s in ipairs(config.SECRETS) do
    local answer = ask_secret(string.format("%s [%s]: ", s.label, saved[s.key] and "saved" or "none"))
    if answer and answer ~= "" then
      values[s.key] = answer
      merged[s.key] = answer
    end
  end
  if o.verify then
    local checked, err = verify(config.resolve(o, merged, false))
    if not checked then
      io.stderr:write("batchexport: the keys were not saved: Batch did not accept them\n")
      error(err, 0)
    end
    if #checked == 0 then
      io.stderr:write("nothing verified: a REST API key with a project key or an API key is needed\n")
    else
      io.stderr:write("verified: Batch accepted the keys (" .. table.concat(checked, ", ") .. ")\n")
    end
  end
  if next(values) == nil then
    io.stderr:write("nothing to save: every answer was empty; " .. path .. " is unchanged\n")
    return 0
  end
  config.write(path, profile, values)
  io.stderr:write(string.format("saved to %s (mode 600)%s\n", path,
    profile ~= "default" and (": use it with --profile " .. profile .. " or BATCH_PROFILE=" .. profile) or ""))
  return 0
end

function run.completion(ctx, o)
  local parser = args.parser()
  io.stdout:write(parser["get_" .. o.shell .. "_complete"](parser))
  return 0
end

function run.help(ctx, o)
  local topic = table.concat(o.topic or {}, " ")
  local parser = args.find(args.parser(), topic)
  if not parser then args.usage("help", "no help for '" .. topic .. "' (batchexport --help lists the commands)") end
  io.stdout:write(parser:get_help(), "\n")
  return 0
end

return M
