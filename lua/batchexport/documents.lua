--- batchexport.documents: every document a server sends is checked here
-- before the library uses any of it (an export, a file entry, a list page,
-- a create answer, a legacy status). A document that breaks the wire
-- contract is refused as a whole with a decode error naming the field:
--
--   the server's export: files[2].part: expected a whole number >= 1, got "2"
--
-- Only what the library relies on is required; the other documented fields
-- must have their documented type when present. Values are shown only when
-- short and printable, and every error is scrubbed of secrets by the client
-- on its way out.
local errors = require("batchexport.errors")
local validate = require("batchexport.validate")

-- What lua-cjson gives for null when a caller decoded a document itself
-- (the library's own decoding turns it into nil): absent, like nil.
local NULL = require("cjson.safe").null

local M = {}

M.MAX_TOKEN = 256               -- ids, as exports.check_id takes them
M.MAX_CURSOR = 1024             -- list cursors: the rule the C pager applies too
M.MAX_PART = 0x7fffffff
M.MAX_SIZE = 2 ^ 53             -- bytes: beyond, a double no longer counts them

--- documents.token(v) -> whether v is an id or cursor the library can send
-- back: 1 to 256 characters, none of them a space or a control character.
function M.token(v)
  return type(v) == "string" and #v >= 1 and #v <= M.MAX_TOKEN and not v:find("[%c%s]")
end

--- documents.cursor(v) -> whether v is a list cursor the library can send
-- back whole: 1 to 1024 characters, none a space or a control character
-- (the C pager refuses any other next_from before a request carries it).
function M.cursor(v)
  return type(v) == "string" and #v >= 1 and #v <= M.MAX_CURSOR and not v:find("[%c%s]")
end

--- documents.request_id(v) -> whether v is a legacy request id safe in a
-- path: 1 to 256 of A-Z a-z 0-9 . _ ~ -, and not "." or "..".
function M.request_id(v)
  return type(v) == "string" and #v >= 1 and #v <= M.MAX_TOKEN and not v:find("[^%w%._~%-]")
    and v ~= "." and v ~= ".."
end

local function whole(v, lo, hi)
  return type(v) == "number" and v >= lo and v <= hi and v == math.floor(v)
end

-- All keys strings: what a JSON object decodes to (an empty one included).
local function is_object(v)
  if type(v) ~= "table" then return false end
  for k in pairs(v) do
    if type(k) ~= "string" then return false end
  end
  return true
end

-- Keys exactly 1..n: what a JSON array decodes to (an empty one included).
local is_array = validate.is_array

local function show(v)
  if v == nil then return "nothing" end
  if v == NULL then return "null" end
  if type(v) == "string" then
    if #v <= 40 and not v:find("%c") then return '"' .. v .. '"' end
    return "a string of " .. #v .. " bytes"
  end
  if type(v) == "table" then return is_array(v) and "an array" or "an object" end
  return tostring(v)
end

-- The decode error for one field of one document.
local function bad(what, path, expected, got)
  return errors.new("decode", "the server's " .. what .. ": " .. path .. ": expected " .. expected ..
    ", got " .. show(got))
end

local function field(prefix, name)
  return prefix == "" and name or prefix .. "." .. name
end

local function absent(v) return v == nil or v == NULL end

-- Optional fields: absent, or the type the documentation gives them.
local function optional(what, doc, prefix, names, want, test)
  for _, name in ipairs(names) do
    local v = doc[name]
    if not absent(v) and not test(v) then return bad(what, field(prefix, name), want, v) end
  end
end

local function is_string(v) return type(v) == "string" end
local function is_status(v) return type(v) == "string" and #v <= 64 and v:match("^[%w_]+$") ~= nil end

local STATUS = "a status name (letters, digits, _)"
local TOKEN = "an id (1 to 256 characters without spaces)"
local PART = "a whole number >= 1"
local SIZE = "a whole number >= 0"

-- One entry of an export's files. need_part: as in an export (part is what
-- orders the files and names them on disk); open() takes entries without.
local function check_file(what, f, prefix, need_part)
  if not is_object(f) then return bad(what, prefix, "an object", f) end
  if not M.token(f.id) then return bad(what, field(prefix, "id"), TOKEN, f.id) end
  if (need_part or f.part ~= nil) and not whole(f.part, 1, M.MAX_PART) then
    return bad(what, field(prefix, "part"), PART, f.part)
  end
  if f.size ~= nil and not whole(f.size, 0, M.MAX_SIZE) then
    return bad(what, field(prefix, "size"), SIZE, f.size)
  end
  return optional(what, f, prefix, { "url" }, "a string", is_string)
end

local function check_export(what, e, prefix, want_id)
  if not is_object(e) then return bad(what, prefix == "" and "export" or prefix, "an object", e) end
  if not M.token(e.id) then return bad(what, field(prefix, "id"), TOKEN, e.id) end
  if want_id and e.id ~= want_id then return bad(what, field(prefix, "id"), '"' .. want_id .. '"', e.id) end
  if not is_status(e.status) then
    return bad(what, field(prefix, "status"), type(e.status) == "string" and STATUS or "a string", e.status)
  end
  local err = optional(what, e, prefix, { "request_date", "start_date", "completion_date", "scope" },
    "a string", is_string) or optional(what, e, prefix, { "request" }, "an object", is_object)
  if err then return err end
  local files = e.files
  if absent(files) and e.status ~= "SUCCESS" then return nil end
  if not is_array(files) then return bad(what, field(prefix, "files"), "an array", files) end
  local parts = {}
  for i, f in ipairs(files) do
    local at = field(prefix, "files[" .. i .. "]")
    err = check_file(what, f, at, true)
    if err then return err end
    if parts[f.part] then
      return errors.new("decode", "the server's " .. what .. ": " .. at .. ".part: part " .. f.part ..
        " appears twice (files[" .. parts[f.part] .. "] has it too)")
    end
    parts[f.part] = i
  end
end

--- documents.export(doc [, id]) -> doc, or nil, err. An export as view
-- returns it (and, with id, the export asked for).
function M.export(doc, id)
  local err = check_export("export", doc, "", id)
  if err then return nil, err end
  return doc
end

--- documents.file(entry) -> entry, or nil, err. An entry of export.files as
-- open() takes it: part and size may be left out.
function M.file(entry)
  local err = check_file("file entry", entry, "file", false)
  if err then return nil, err end
  return entry
end

--- documents.page(doc) -> doc, or nil, err. A page of exports/list:
-- {exports, count, has_more, next_from}; next_from is required with
-- has_more, and must be a cursor that can be sent back.
function M.page(doc)
  local what = "list page"
  if not is_object(doc) then return nil, bad(what, "page", "an object", doc) end
  if not is_array(doc.exports) then return nil, bad(what, "exports", "an array", doc.exports) end
  for i, e in ipairs(doc.exports) do
    local err = check_export(what, e, "exports[" .. i .. "]")
    if err then return nil, err end
  end
  if not whole(doc.count, 0, M.MAX_PART) then return nil, bad(what, "count", SIZE, doc.count) end
  if type(doc.has_more) ~= "boolean" then return nil, bad(what, "has_more", "a boolean", doc.has_more) end
  if (doc.has_more or not absent(doc.next_from)) and not M.cursor(doc.next_from) then
    return nil, bad(what, "next_from", "a cursor (1 to 1024 characters without spaces)", doc.next_from)
  end
  return doc
end

--- documents.created(doc) -> the export id of a v2 create answer, or nil, err.
function M.created(doc)
  if not is_object(doc) then return nil, bad("create answer", "answer", "an object", doc) end
  if not M.token(doc.id) then return nil, bad("create answer", "id", TOKEN, doc.id) end
  return doc.id
end

local REQUEST_ID = "a request id (1 to 256 of A-Z a-z 0-9 . _ ~ -)"

--- documents.legacy_created(doc) -> the request id of a 1.0 create answer
-- (requestId; request_id or id from servers that name it so), or nil, err.
function M.legacy_created(doc)
  local what = "create answer"
  if not is_object(doc) then return nil, bad(what, "answer", "an object", doc) end
  local name = not absent(doc.requestId) and "requestId" or not absent(doc.request_id) and "request_id" or "id"
  if not M.request_id(doc[name]) then return nil, bad(what, name == "id" and "requestId" or name, REQUEST_ID, doc[name]) end
  return doc[name]
end

--- documents.legacy_status(doc [, id]) -> doc, or nil, err. A 1.0 status
-- (and, with id, the request asked for); file_url is required once SUCCESS.
function M.legacy_status(doc, id)
  local what = "legacy status"
  if not is_object(doc) then return nil, bad(what, "status document", "an object", doc) end
  if not M.request_id(doc.id) then return nil, bad(what, "id", REQUEST_ID, doc.id) end
  if id and doc.id ~= id then return nil, bad(what, "id", '"' .. id .. '"', doc.id) end
  if not is_status(doc.status) then
    return nil, bad(what, "status", type(doc.status) == "string" and STATUS or "a string", doc.status)
  end
  if doc.status == "SUCCESS" and absent(doc.file_url) then
    return nil, bad(what, "file_url", "a URL once the status is SUCCESS", nil)
  end
  local err = optional(what, doc, "", { "file_url", "uri" }, "a URL (no spaces or control characters)",
      function(v) return type(v) == "string" and v ~= "" and not v:find("[%c%s]") end)
    or optional(what, doc, "", { "request_date", "completion_date", "error_msg" }, "a string", is_string)
    or optional(what, doc, "", { "request" }, "an object", is_object)
  if err then return nil, err end
  return doc
end

return M
