-- spec/support/cli.lua: programs the specs run as processes of their own
-- against a mock: the command (bin/batchexport) and the examples.
--
--   local cli = require("spec.support.cli")
--   local code, out, err = cli.run(m, tmp, { HOME = home }, { "list" })
--   local code, out = cli.example(m, "quickstart.lua", { dir })
local h = require("spec.support.helpers")

local M = {}

M.BIN = "bin/batchexport"

-- The Lua this suite runs on, for the examples' own processes (LUA_PATH and
-- LUA_CPATH are inherited: build/, build-jit/ or build-5.X/).
M.LUA = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

-- The variables that reach the mock (bin/batchexport-mock start prints them).
M.MOCK_VARS = { "MOCK_API_URL", "BATCH_REST_KEY", "BATCH_PROJECT_KEY", "BATCH_API_KEY" }

-- "env -i K=V ..." for a clean environment of exactly these variables (a
-- false value leaves the variable out), in a stable order.
function M.env(vars)
  local names = {}
  for k, v in pairs(vars) do if v then names[#names + 1] = k end end
  table.sort(names)
  local parts = { "env", "-i" }
  for _, k in ipairs(names) do parts[#parts + 1] = k .. "=" .. h.sh_quote(vars[k]) end
  return table.concat(parts, " ")
end

-- Runs bin/batchexport with args in a clean environment: PATH, then `base`
-- (e.g. HOME), then unless env is false the mock's URL and keys, then the
-- table env (false removes a variable). stdin is a string given on the
-- standard input (else /dev/null); tmp a folder for the captured output.
-- Returns the exit code, stdout and stderr.
function M.run(m, tmp, base, args, env, stdin)
  local vars = { PATH = os.getenv("PATH") }
  for k, v in pairs(base or {}) do vars[k] = v end
  if env ~= false then
    vars.BATCH_BASE_URL = m.api_url
    vars.BATCH_REST_KEY = m.rest_key
    vars.BATCH_PROJECT_KEY = m.project_key
    vars.BATCH_API_KEY = m.api_key
  end
  for k, v in pairs(type(env) == "table" and env or {}) do vars[k] = v end
  local parts = { M.env(vars), M.BIN }
  for _, a in ipairs(args) do parts[#parts + 1] = h.sh_quote(a) end
  local out, err = tmp .. "/stdout", tmp .. "/stderr"
  local cmd = table.concat(parts, " ") .. " >" .. h.sh_quote(out) .. " 2>" .. h.sh_quote(err)
  if stdin then
    h.write(tmp .. "/stdin", stdin)
    cmd = cmd .. " <" .. h.sh_quote(tmp .. "/stdin")
  else
    cmd = cmd .. " </dev/null"
  end
  local code = h.capture(cmd)
  return code, h.read(out) or "", h.read(err) or ""
end

-- Runs examples/<script> with args on this suite's Lua, with the mock's
-- variables (names: the list to pass, MOCK_VARS by default; over: values
-- that replace the mock's). Returns the exit code and everything it printed,
-- stdout and stderr together.
function M.example(m, script, args, names, over)
  local env = {}
  for _, k in ipairs(names or M.MOCK_VARS) do
    local v = (over or {})[k] or m.env[k]
    env[#env + 1] = k .. "=" .. h.sh_quote(v)
  end
  local cmd = "env " .. table.concat(env, " ") .. " " .. M.LUA .. " examples/" .. script
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. h.sh_quote(a) end
  local out, code = h.sh(cmd)
  return code, out
end

-- A failed check's message about a process: its exit code and its last
-- line first (the CI log's summary keeps a failure's first lines only),
-- then everything it printed.
function M.said(code, out)
  local last = out:match("([^\n]*%S[^\n]*)%s*$") or "(nothing printed)"
  return string.format("exit %s, last line: %s\n%s", tostring(code), last, out)
end

return M
