--- batchexport.cli.term: what the command asks of the system that neither
-- Lua nor LuaJIT can do alone: whether a stream is a terminal, its width,
-- turning echo off for a secret, a file's mode, a private folder and file,
-- a folder's names. Each is a small C function of the core (terminal.c,
-- core.c): the command runs no shell.
local core = require("batchexport.core")

local M = {}

--- term.quote(s) -> s quoted for sh (to show a command a user may paste).
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- term.isatty(fd) -> whether file descriptor fd (0, 1 or 2) is a terminal.
function M.isatty(fd)
  return core.isatty(math.floor(fd))
end

--- term.columns() -> the terminal's width: $COLUMNS, else the width of the
-- terminal on stderr, else 80.
function M.columns()
  local c = tonumber(os.getenv("COLUMNS"))
  if c and c >= 20 then return math.floor(c) end
  c = core.terminal_columns(2)
  if c and c >= 20 then return c end
  return 80
end

--- term.echo(on): turns the echo of typed characters on stdin on or off
-- (only when stdin is a terminal; returns whether it changed anything).
function M.echo(on)
  return core.set_echo(0, on)
end

--- term.file_mode(path) -> the permission bits of path (following links), or nil.
function M.file_mode(path)
  return (core.file_mode(path))
end

--- term.private_dir(path) -> true, or nil, why: creates path and its parents;
-- a folder it creates may be entered by its owner only (0700).
M.private_dir = core.private_dir

--- term.names(dir) -> an array of the names in dir (hidden ones included).
function M.names(dir)
  local names = core.list_dir(dir) or {}
  table.sort(names)
  return names
end

return M
