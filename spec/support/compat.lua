-- busted --helper for PUC Lua 5.1 and 5.2 (scripts/test.sh): lets the specs'
-- own code use the 5.3 idioms it is written in (read("a"), table.unpack,
-- math.type). Only the spec process is changed, never the library's view of
-- the language: math.tointeger, which the library tests for to know whether
-- integers exist, is left absent; the library itself uses none of these.
local FORMATS = { a = "*a", l = "*l", L = "*L", n = "*n" }
local unpack = table.unpack or unpack

local function formats(...)
  local out = { ... }
  for i = 1, select("#", ...) do
    if type(out[i]) == "string" then out[i] = FORMATS[out[i]] or out[i] end
  end
  return unpack(out, 1, select("#", ...))
end

local file_methods = getmetatable(io.stdout).__index
local file_read, file_lines = file_methods.read, file_methods.lines
function file_methods.read(f, ...) return file_read(f, formats(...)) end
function file_methods.lines(f, ...) return file_lines(f, formats(...)) end

local io_read, io_lines = io.read, io.lines
function io.read(...) return io_read(formats(...)) end
function io.lines(name, ...) return io_lines(name, formats(...)) end

table.unpack = table.unpack or unpack

math.type = math.type or function(x)
  if type(x) ~= "number" then return nil end
  if x == math.floor(x) and x > -math.huge and x < math.huge then return "integer" end
  return "float"
end

return true
