--- batchexport.cli.config: the command's settings: the config file and its
-- profiles, the environment and the flags (flags > environment > file), and
-- advice in the command's own terms (which variable, key or flag to set).
--
-- The file: `key = value` lines, `#` comments, values optionally quoted; the
-- lines before any `[NAME]` header, and a `[default]` section, are the
-- default profile; `[NAME]` starts profile NAME. It must be readable by its
-- owner only. No value is ever shown in a message.
local errors = require("batchexport.errors")
local files = require("batchexport.files")
local suggest = require("batchexport.suggest")
local term = require("batchexport.cli.term")

local M = {}

M.KEYS = { "rest_key", "project_key", "api_key", "base_url", "api_version", "ca_file", "proxy", "allow_http" }
local KNOWN = {}
for _, k in ipairs(M.KEYS) do KNOWN[k] = true end

-- The secrets, what a person calls them, and where each may be set.
M.SECRETS = {
  { key = "rest_key", label = "REST API key", env = "BATCH_REST_KEY" },
  { key = "project_key", label = "project key", env = "BATCH_PROJECT_KEY" },
  { key = "api_key", label = "Live API key (legacy 1.0)", env = "BATCH_API_KEY" },
}
local SECRET = {}
for _, s in ipairs(M.SECRETS) do SECRET[s.key] = s end

-- '; did you mean "rest_key"?' for a key two edits or fewer from a known one.
local function suggestion(key)
  local best = suggest.closest(key, M.KEYS)
  return best and string.format('; did you mean "%s"?', best) or ""
end

local function fail(message)
  error(errors.new("config", message), 0)
end

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

--- config.path(flag) -> the config file's path, and whether it was named
-- (--config or BATCHEXPORT_CONFIG) rather than the default.
function M.path(flag)
  if flag then return flag, true end
  local p = env("BATCHEXPORT_CONFIG")
  if p then return p, true end
  local xdg = env("XDG_CONFIG_HOME")
  if xdg then return xdg .. "/batchexport/config", false end
  local home = env("HOME")
  if home then return home .. "/.config/batchexport/config", false end
  return nil, false
end

local function private(path)
  local mode = term.file_mode(path)
  if not mode then fail("cannot check the permissions of the config file " .. path) end
  local function open_bits(bits) return bits % 8 >= 4 or math.floor(bits / 2) % 2 == 1 end
  if open_bits(math.floor(mode / 8) % 8) or open_bits(mode % 8) then
    fail(string.format("the config file %s is readable or writable by group or others (mode %03o); "
      .. "it holds keys: run chmod 600 %s", path, mode, path))
  end
end

-- Splits the file's text into lines with what each one is: {text, section,
-- key, value} (key nil for blanks, comments and headers).
local function parse_lines(path, text)
  local out, section = {}, "default"
  local n = 0
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    n = n + 1
    local entry = { text = line, section = section }
    local body = line:gsub("^%s+", "")
    if body ~= "" and body:sub(1, 1) ~= "#" then
      local header = body:match("^%[%s*([%w_%.%-]+)%s*%]%s*$")
      if header then
        section = header
        entry.section, entry.header = header, true
      else
        local key, value = body:match("^([%w_%.%-]+)%s*=%s*(.-)%s*$")
        if not key then fail(string.format("%s:%d: expected key = value or [profile]", path, n)) end
        key = key:lower():gsub("-", "_"):gsub("^batch_", "")
        if not KNOWN[key] then
          fail(string.format("%s:%d: unknown key %q%s (known: %s)", path, n, key, suggestion(key),
            table.concat(M.KEYS, ", ")))
        end
        value = value:match('^"(.*)"$') or value:match("^'(.*)'$") or value
        if key == "allow_http" and value ~= "true" and value ~= "false" then
          fail(string.format("%s:%d: allow_http is true or false", path, n))
        end
        entry.key, entry.value = key, value
      end
    end
    out[#out + 1] = entry
  end
  return out
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

--- config.read(path, named) -> {profiles = {name = {key = value}}, lines},
-- or nil when the default file is absent. Raises a config error when the
-- file is unsafe or malformed, or a named one is missing.
function M.read(path, named)
  local text = slurp(path)
  if not text then
    if named then fail("cannot read the config file " .. path) end
    return nil
  end
  private(path)
  local lines = parse_lines(path, text)
  local profiles = {}
  for _, l in ipairs(lines) do
    profiles[l.section] = profiles[l.section] or {}
    if l.key then profiles[l.section][l.key] = l.value end
  end
  return { profiles = profiles, lines = lines }
end

local function profile_names(conf)
  local names = {}
  for name in pairs(conf and conf.profiles or {}) do names[#names + 1] = name end
  table.sort(names)
  return names
end

--- config.profile(flags) -> the profile's name: --profile, else
-- BATCH_PROFILE, else "default".
function M.profile(flags)
  local name = flags.profile or env("BATCH_PROFILE") or "default"
  if not name:match("^[%w_%.%-]+$") then
    fail("BATCH_PROFILE: a profile's name is letters, digits, '_', '.' or '-'")
  end
  return name
end

--- config.settings(flags) -> the options for batchexport.new, and where they
-- came from ({path, profile}). flags: the parsed command line.
function M.settings(flags)
  local path, named = M.path(flags.config)
  local profile = M.profile(flags)
  local conf = path and M.read(path, named)
  local p = conf and conf.profiles[profile]
  if not p then
    if profile ~= "default" then
      if not conf then
        fail(string.format("no profile '%s': there is no config file (%s); batchexport configure --profile %s "
          .. "writes one", profile, tostring(path), profile))
      end
      fail(string.format("no profile '%s' in %s (profiles: %s)", profile, path,
        table.concat(profile_names(conf), ", ")))
    end
    p = {}
  end
  return M.resolve(flags, p, true), { path = path, profile = profile }
end

--- config.resolve(flags, profile, keys_from_env) -> the options for
-- batchexport.new from the flags, the environment and a profile's values:
-- flags > environment > profile; the keys from the environment only when
-- keys_from_env (configure checks the keys typed, not those).
function M.resolve(flags, p, keys_from_env)
  local function key(name)
    return keys_from_env and env(SECRET[name].env) or p[name]
  end
  return {
    rest_key = key("rest_key"),
    project_key = key("project_key"),
    api_key = key("api_key"),
    base_url = flags.base_url or env("BATCH_BASE_URL") or p.base_url,
    api_version = flags.api_version or env("BATCH_API_VERSION") or p.api_version,
    ca_file = flags.ca_file or env("BATCH_CA_FILE") or p.ca_file,
    proxy = p.proxy,
    allow_http = (flags.allow_http or p.allow_http == "true") or nil,
  }
end

local function where_to_set(key, origin)
  local s = SECRET[key]
  local section = origin.profile ~= "default" and (" [" .. origin.profile .. "]") or ""
  return string.format("the %s (set %s or %s in the config file%s)", s.label, s.env, key, section)
end

--- config.require(settings, origin, keys) raises a config error naming, for
-- each missing key, the variable and the config key that give it.
function M.require(settings, origin, keys)
  local missing = {}
  for _, key in ipairs(keys) do
    if not settings[key] then missing[#missing + 1] = where_to_set(key, origin) end
  end
  if #missing > 0 then
    fail("this command needs " .. table.concat(missing, " and ") .. "; batchexport configure"
      .. (origin.profile ~= "default" and (" --profile " .. origin.profile) or "") .. " saves them")
  end
end

-- The library's advice, said in the command's terms.
local PHRASES = {
  { "use https:// or set allow_http = true", "use https://, or --allow-http (allow_http = true in the "
    .. "config file) to send them anyway" },
  { "%(pass it to batchexport%.new%)", "(set it in the environment or the config file: batchexport configure)" },
}

-- Where each of batchexport.new's options comes from in the command.
local SOURCES = {
  base_url = "--base-url (BATCH_BASE_URL, base_url)",
  api_version = "--api-version (BATCH_API_VERSION, api_version)",
  ca_file = "--ca-file (BATCH_CA_FILE, ca_file)",
  proxy = "proxy (in the config file)",
}

--- config.advise(err) -> err, its message in the command's terms when it
-- is a config error from the library.
function M.advise(err)
  if not errors.is(err, "config") then return err end
  local problems = {}
  for i, problem in ipairs(err.problems or { err.message }) do
    for _, p in ipairs(PHRASES) do problem = problem:gsub(p[1], p[2]) end
    local option, rest = problem:match("^([%w_]+):(.*)$")
    if option and SOURCES[option] then problem = SOURCES[option] .. ":" .. rest end
    problems[i] = problem
  end
  local message = table.concat(problems, "; ")
  if message == err.message then return err end
  return errors.new("config", message, { problems = problems })
end

---------------------------------------------------------------------------
-- Writing (batchexport configure)

-- The file's new text: profile's keys set to values (others kept as they
-- are, comments included); a missing section is added at the end.
local function updated_text(conf, profile, values)
  local lines = conf and conf.lines or {}
  local out, done, last_of_section = {}, {}, nil
  for _, l in ipairs(lines) do
    if l.key and l.section == profile and values[l.key] ~= nil then
      out[#out + 1] = l.key .. " = " .. values[l.key]
      done[l.key] = true
    else
      out[#out + 1] = l.text
    end
    if l.section == profile then last_of_section = #out end
  end
  while #out > 0 and out[#out] == "" do out[#out] = nil end
  local add = {}
  for _, key in ipairs(M.KEYS) do
    if values[key] ~= nil and not done[key] then add[#add + 1] = key .. " = " .. values[key] end
  end
  if #add > 0 then
    if last_of_section and last_of_section <= #out then
      for i, line in ipairs(add) do table.insert(out, last_of_section + i, line) end
    else
      if profile ~= "default" then
        if #out > 0 then out[#out + 1] = "" end
        out[#out + 1] = "[" .. profile .. "]"
      elseif #out == 0 then
        out[#out + 1] = "# batchexport config: keys of the default profile, then a [NAME] section per profile"
      end
      for _, line in ipairs(add) do out[#out + 1] = line end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

--- config.write(path, profile, values) -> true, or raises a config error.
-- The file is created 0600 (its folder 0700) and replaced by the library's
-- atomic save (synced, renamed, its folder synced), so no reader ever sees
-- half of it, even after a crash.
function M.write(path, profile, values)
  local conf = M.read(path, false)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, why = term.private_dir(dir)
    if not ok then fail(why) end
  end
  local ok, err = files.write(path, updated_text(conf, profile, values), { private = true })
  if not ok then fail("cannot write the config file " .. path .. ": " .. err.message) end
  return true
end

return M
