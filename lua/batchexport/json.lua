--- batchexport.json: lua-cjson, with the contract's rules applied to what it
-- decodes: JSON null is nil, whole numbers are Lua integers (5.3+).
local cjson = require("cjson.safe")
local core = require("batchexport.core")

local M = {}

local normalize = core.normalize
local decode = cjson.decode

--- json.decode(text) -> value, or nil, message
function M.decode(text)
  local value, err = decode(text)
  if value == nil and err then return nil, err end
  return normalize(value)
end

--- json.decode_raw(text) -> value as lua-cjson gives it, or nil, message.
-- For the C reader, which normalizes only the records that need it.
M.decode_raw = decode

--- json.encode(value) -> text, or nil, message
function M.encode(value)
  return cjson.encode(value)
end

return M
