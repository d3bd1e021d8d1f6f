--- batchexport.errors: the error objects every function returns (or raises,
-- from iterators). One shape for all of them, so callers switch on `kind`.
--
--   kind       config | validation | network | timeout | http | api | decode
--              | export_failed | expired
--   message    one readable sentence
--   status     HTTP status, when there was a response
--   code       Batch's error code (v2: a string such as "NOT_FOUND"; 1.0: a number)
--   retryable  whether trying again later may succeed
--   attempts   how many requests were made
--   request    "GET https://host/2.11/exports/view?id=..." with secrets shown as ***
--   request_id the server's id for the failed request (X-Request-Id), when it sent one
--   export     the export table (export_failed) or status table (expired)
--   problems   every problem found (validation)
local M = {}

local Error = {}
Error.__index = Error
Error.__name = "batchexport.error"

function Error.__tostring(e)
  local head = "batchexport: " .. e.kind
  if e.status then head = head .. " " .. e.status end
  if e.code ~= nil then head = head .. " " .. tostring(e.code) end
  local line = head .. ": " .. e.message
  local notes = {}
  if e.request then notes[#notes + 1] = e.request end
  if e.request_id then notes[#notes + 1] = "request id " .. e.request_id end
  if e.attempts and e.attempts > 1 then notes[#notes + 1] = e.attempts .. " attempts" end
  if #notes > 0 then line = line .. " (" .. table.concat(notes, ", ") .. ")" end
  return line
end

M.KINDS = {
  config = true, validation = true, network = true, timeout = true, http = true,
  api = true, decode = true, export_failed = true, expired = true,
}

--- errors.new(kind, message [, fields]) -> error object
function M.new(kind, message, fields)
  assert(M.KINDS[kind], "unknown error kind " .. tostring(kind))
  local e = fields or {}
  e.kind = kind
  e.message = message
  if e.retryable == nil then e.retryable = false end
  return setmetatable(e, Error)
end

--- errors.is(v [, kind]) -> whether v is a batchexport error (of that kind)
function M.is(v, kind)
  return getmetatable(v) == Error and (kind == nil or v.kind == kind)
end

--- Raises err from an iterator; pcall gets the same object back.
function M.raise(err)
  error(err, 0)
end

return M
