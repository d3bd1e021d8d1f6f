--- batchexport.stream: a reader on one exported file, streamed. It asks for
-- a download link, fetches the file from storage without any credential
-- (storage is another origin), and hands out records, rows or bytes while
-- the C reader keeps memory bounded. A dropped connection is resumed with a
-- Range request from the last byte read; an expired link (403 from storage)
-- is replaced by a fresh one; both within the client's retry policy.
--
--   stream.open(client, {
--     link = function() return url end | nil, err,   -- a fresh storage URL
--     format = "json" | "csv" | "raw",
--     size = bytes expected (checked at the end) or nil,
--     label = "export X part 2",                      -- for error messages
--   }) -> reader
--   reader:records() / reader:lines() / reader:read(n) / reader:count() / reader:close()
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local json = require("batchexport.json")
local request = require("batchexport.request")
local scheduler = require("batchexport.scheduler")

local M = {}

local Reader = {}
Reader.__index = Reader
Reader.__name = "batchexport.reader"

function Reader:__tostring()
  return "batchexport.reader (" .. self.label .. ")"
end

local function fail(self, kind, message, fields)
  fields = fields or {}
  self.failed = errors.new(kind, self.label .. ": " .. message, fields)
  return nil, self.failed
end

-- Starts (or resumes, from the bytes already read) the storage transfer.
local function start(self)
  if not self.url then
    local url, err = self.link()
    if not url then return nil, err end
    self.url = url
  end
  local offset = self.core:consumed()
  local transfer = self.client.core:request({ method = "GET", url = self.url, auth = "none",
    sink = "stream", resume_from = offset > 0 and offset or nil })
  scheduler.own(transfer)
  self.core:attach(transfer)
  self.transfer = transfer
  return true
end

-- The transfer ended before the file did: go on, or give up.
local function recover(self)
  local next_step, err = self.resume(self.transfer:result(), self.core:consumed())
  if not next_step then
    self.failed = err
    return nil, err
  end
  if next_step == "refresh" then self.url = nil end
  return start(self)
end

-- Pulls the next value from the C reader, waiting, resuming and refreshing
-- as needed. Returns the value, or nil at the end, or nil, err.
local function pull(self, method, arg)
  if self.failed then return nil, self.failed end
  if self.closed then return nil, errors.new("validation", self.label .. ": reader is closed") end
  if not self.transfer then
    local ok, err = start(self)
    if not ok then self.failed = err return nil, err end
  end
  local rd = self.core
  while true do
    local value, kind, message = rd[method](rd, arg)
    if value then return value end
    if value == false then
      -- The reader may already hold bytes it cannot use alone (one byte of
      -- a gzip header): wait for more than it has, not for any.
      local transfer, held = self.transfer, self.transfer:pending()
      scheduler.wait_until(function() return transfer:done() or transfer:pending() > held end)
    elseif kind == nil then
      local got = rd:consumed()
      if self.size and got ~= self.size then
        return fail(self, "decode", "the file is " .. got .. " bytes, " .. self.size .. " expected")
      end
      return nil
    elseif kind == "source" then
      local ok, err = recover(self)
      if not ok then return nil, err end
    else
      return fail(self, "decode", message)
    end
  end
end

--- reader:read([n]) -> up to n bytes of the file (decompressed), nil at the
-- end, or nil, err.
function Reader:read(n)
  return pull(self, "read", n)
end

--- reader:lines() -> iterator over raw records (JSON text of each record);
-- raises err on failure.
function Reader:lines()
  return function()
    local line, err = pull(self, "next")
    if err then errors.raise(err) end
    return line
  end
end

--- reader:records() -> iterator over records decoded to tables (JSON), or
-- rows (CSV: arrays of fields); raises err on failure. A JSON record that
-- is null is skipped.
function Reader:records()
  if self.format == "csv" then return self:lines() end
  local rd = self.core
  return function()
    -- The common case, a record already buffered, straight from C.
    if self.transfer and not self.closed then
      local record = rd:record()
      if record then return record end
    end
    local record, err = pull(self, "record")
    if err then errors.raise(err) end
    return record
  end
end

--- reader:count() -> records (or rows) read so far
function Reader:count()
  return self.core:count()
end

--- reader:close(): frees the transfer and buffers now.
function Reader:close()
  if not self.closed then
    self.closed = true
    self.core:close()
    self.transfer = nil
  end
end
Reader.__close = Reader.close
Reader.__gc = Reader.close

function M.open(client, opts)
  return setmetatable({
    client = client,
    link = opts.link,
    format = opts.format or "json",
    size = opts.size,
    label = opts.label or "file",
    resume = request.resumer(client, opts.label or "file"),
    core = core.reader({ format = opts.format or "json", max_record = client.max_record,
      decode = (opts.format or "json") == "json" and json.decode_raw or nil }),
  }, Reader)
end

return M
