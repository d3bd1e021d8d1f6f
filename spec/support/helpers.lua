-- spec/support/helpers.lua: files, folders and shell commands for the specs,
-- written once (they were copied into a dozen spec files). Plain Lua that
-- runs on every interpreter the suite runs on (PUC 5.1 to 5.4, LuaJIT): the
-- read formats keep their 5.1 spelling ("*a", "*l").
--
--   local h = require("spec.support.helpers")
--   local dir = h.tmpdir(); h.write(dir .. "/f", "x"); h.ls(dir) --> { "f" }
--   local out, code = h.sh("ls " .. h.sh_quote(dir)); h.rmrf(dir)
local M = {}

-- A loopback port the kernel says is free now (a server started on it may
-- still lose a race for it).
function M.free_port()
  local s = assert(require("socket").bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- One shell word, whatever the string holds.
function M.sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local sh_quote = M.sh_quote

-- Runs a shell command line: what it wrote to stdout and stderr together,
-- and its exit code.
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  return (out:gsub("exit=%d+%s*$", "")), tonumber(out:match("exit=(%d+)%s*$"))
end

-- Runs a shell command line: its exit code and its stdout alone (stderr
-- goes where the command line sends it).
function M.capture(cmd)
  local p = assert(io.popen(cmd .. "; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit=(%d+)%s*$")), (out:gsub("exit=%d+%s*$", ""))
end

-- A file's whole content, or nil when it cannot be opened.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Writes a file whole; mode (e.g. "600") is given to chmod.
function M.write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then assert(os.execute("chmod " .. mode .. " " .. sh_quote(path))) end
end

-- The non-empty lines of a string.
function M.lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- What a command about a file starts its output with (pattern), or nil.
local function ask_about(command, path, pattern)
  local _, out = M.capture(command .. " " .. sh_quote(path) .. " 2>/dev/null")
  return out:match(pattern)
end

-- The SHA-256 of a file, in hex (sha256sum), or nil if it cannot be read.
function M.sha256(path) return ask_about("sha256sum", path, "^(%x+)") end

-- A new empty folder of its own (mktemp -d).
function M.tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local d = p:read("*l")
  p:close()
  assert(d and d ~= "", "mktemp -d failed")
  return d
end

-- A path of its own that nothing is at yet (for a download to create).
function M.tmpname()
  local path = os.tmpname()
  os.remove(path)
  return path
end

-- path made an empty folder (whatever was there is removed); returns path.
function M.emptydir(path)
  assert(os.execute("rm -rf " .. sh_quote(path) .. " && mkdir -p " .. sh_quote(path)))
  return path
end

-- Removes a file or a folder and all it holds; nil does nothing.
function M.rmrf(path)
  if path then os.execute("rm -rf " .. sh_quote(path)) end
end

-- The names in a folder (dot files too, not . and ..), sorted; {} if there
-- is no such folder.
function M.ls(dir)
  local _, out = M.capture("ls -A " .. sh_quote(dir) .. " 2>/dev/null")
  local names = M.lines(out)
  table.sort(names)
  return names
end

-- A file's permission bits in octal ("600"), or nil (GNU stat).
function M.mode_of(path) return ask_about("stat -c %a", path, "^(%d+)") end

-- A deep copy of a value (tables copied all the way down, no cycles).
function M.deepcopy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = M.deepcopy(v) end
  return c
end

-- Every value of a generic for (`for row in it, ...`), in a list.
function M.collect(it, ...)
  local out = {}
  for row in it, ... do out[#out + 1] = row end
  return out
end

-- Calls fn, checks that it raised, and returns what it raised.
function M.raised(fn)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error")
  return err
end

return M
