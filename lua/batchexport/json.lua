--- batchexport.json: JSON for API bodies. Decoding is the library's own C
-- decoder (the one records go through), to the contract's rules: JSON null
-- is nil, whole numbers are Lua integers (5.3+). It is strict, as
-- everything decoded here came from a server: NaN, Infinity, hex numbers,
-- leading zeros and nesting deeper than 1000 levels are refused. Encoding is
-- lua-cjson's.
local cjson = require("cjson.safe")
local core = require("batchexport.core")

local M = {}

--- json.decode(text) -> value, or nil, message
M.decode = core.json_decode

--- json.encode(value) -> text, or nil, message
function M.encode(value)
  return cjson.encode(value)
end

return M
