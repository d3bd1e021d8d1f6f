--- batchexport.json: lua-cjson, with the contract's rules applied to what it
-- decodes: JSON null is nil, whole numbers are Lua integers (5.3+).
--
-- Everything decoded here came from a server, so the decoders are strict
-- instances of their own: NaN, Infinity and hex numbers (which lua-cjson
-- accepts by default) are refused, and so is nesting deeper than a
-- document (64 levels) or a record (1000, lua-cjson's own bound) has any
-- reason to go. Other users of lua-cjson in the same Lua state keep their
-- settings.
local cjson = require("cjson.safe")
local core = require("batchexport.core")

local M = {}

M.MAX_DOCUMENT_DEPTH = 64
M.MAX_RECORD_DEPTH = 1000

local function strict(max_depth)
  local decoder = cjson.new()
  decoder.decode_invalid_numbers(false)
  decoder.decode_max_depth(max_depth)
  return decoder.decode
end

local normalize = core.normalize
local decode_document = strict(M.MAX_DOCUMENT_DEPTH)

--- json.decode(text) -> value, or nil, message. For the API's documents.
function M.decode(text)
  local value, err = decode_document(text)
  if value == nil and err then return nil, err end
  return normalize(value)
end

--- json.decode_raw(text) -> value as lua-cjson gives it, or nil, message.
-- For the C reader, which normalizes only the records that need it.
M.decode_raw = strict(M.MAX_RECORD_DEPTH)

--- json.encode(value) -> text, or nil, message
function M.encode(value)
  return cjson.encode(value)
end

return M
