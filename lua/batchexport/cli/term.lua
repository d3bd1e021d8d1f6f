--- batchexport.cli.term: what the command asks of the system that neither
-- Lua nor LuaJIT can do alone: whether a stream is a terminal, its width,
-- turning echo off for a secret, a file's mode, a private folder and file,
-- a folder's names. Every shell-out of the command is here, and only here,
-- so each one can be swapped for a C helper without touching the rest.
local M = {}

--- term.quote(s) -> s quoted for sh.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local quote = M.quote

-- os.execute's verdict on Lua 5.1/LuaJIT (a number) and 5.2+ (true/nil).
local function succeeded(ok, _, code)
  if type(ok) == "number" then return ok == 0 end
  return ok == true and (code == nil or code == 0)
end

local function read_command(cmd)
  local p = io.popen(cmd)
  if not p then return nil end
  local out = p:read("*a")
  p:close()
  return out
end

--- term.isatty(fd) -> whether file descriptor fd (0, 1 or 2) is a terminal.
-- The shell inherits our descriptors, so `test -t` answers for them.
function M.isatty(fd)
  return succeeded(os.execute("test -t " .. math.floor(fd)))
end

--- term.columns() -> the terminal's width: $COLUMNS, else `stty size` on
-- stderr, else 80.
function M.columns()
  local c = tonumber(os.getenv("COLUMNS"))
  if c and c >= 20 then return math.floor(c) end
  c = tonumber((read_command("stty size 0<&2 2>/dev/null") or ""):match("%d+%s+(%d+)"))
  if c and c >= 20 then return c end
  return 80
end

--- term.echo(on): turns the echo of typed characters on stdin on or off
-- (only when stdin is a terminal; returns whether it changed anything).
function M.echo(on)
  if not M.isatty(0) then return false end
  return succeeded(os.execute("stty " .. (on and "echo" or "-echo") .. " 2>/dev/null"))
end

--- term.file_mode(path) -> the permission bits of path (following links), or nil.
function M.file_mode(path)
  return tonumber((read_command("stat -L -c %a " .. quote(path) .. " 2>/dev/null") or ""):match("^(%d+)"), 8)
end

--- term.private_dir(path) -> true, or nil, why: creates path and its parents;
-- a folder it creates may be entered by its owner only (0700).
function M.private_dir(path)
  if succeeded(os.execute("umask 077 && mkdir -p -- " .. quote(path) .. " 2>/dev/null")) then return true end
  return nil, "cannot create the folder " .. path
end

--- term.private_file(path) -> true, or nil, why: creates (or empties) path
-- readable and writable by its owner only (0600) from its first moment.
function M.private_file(path)
  if succeeded(os.execute("umask 077 && : > " .. quote(path) .. " && chmod 600 " .. quote(path)
    .. " 2>/dev/null")) then
    return true
  end
  return nil, "cannot create " .. path
end

--- term.names(dir) -> an array of the names in dir (hidden ones included).
function M.names(dir)
  local names = {}
  for name in (read_command("ls -1A -- " .. quote(dir) .. " 2>/dev/null") or ""):gmatch("[^\n]+") do
    names[#names + 1] = name
  end
  return names
end

return M
