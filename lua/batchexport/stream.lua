--- batchexport.stream: a reader on one exported file, streamed. It asks for
-- a download link, fetches the file from storage without any credential
-- (storage is another origin), and hands out records, rows or bytes while
-- the C reader keeps memory bounded. A dropped connection is resumed with a
-- Range request from the last byte read; an expired link (403 from storage)
-- is replaced by a fresh one; both within the client's retry policy.
--
--   stream.open(c, {                                  -- a client or a call (request.call)
--     link = function() return url end | nil, err,   -- a fresh storage URL
--     format = "json" | "csv" | "raw",
--     compression = "auto" | "gzip" | "none",      -- "none": read(n) gives the bytes as served
--     size = bytes expected (checked at the end) or nil,
--     label = "export X part 2",                      -- for error messages
--   }) -> reader
--   reader:records{fields = {...}} / reader:values{...} / reader:lines() /
--   reader:read(n) / reader:count() / reader:prefetch() / reader:close()
local class = require("batchexport.class")
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local options = require("batchexport.options")
local request = require("batchexport.request")
local scheduler = require("batchexport.scheduler")

local M = {}

local Reader = class("reader", function(self) return self.label end)

local function fail(self, kind, message, fields)
  fields = fields or {}
  self.failed = errors.new(kind, self.label .. ": " .. message, fields)
  return nil, self.failed
end

-- Starts (or resumes, from the bytes already read) the storage transfer;
-- after, the failure it follows (for a deadline error's context).
local function start(self, after)
  if not self.url then
    local url, err = self.link()
    if not url then return nil, err end
    self.url = url
  end
  local offset = self.core:consumed()
  local spec, late = request.limit_spec(self.client, { method = "GET", url = self.url, auth = "none",
    sink = "stream", resume_from = offset > 0 and offset or nil }, after)
  if not spec then
    late.message = self.label .. ": " .. late.message
    return nil, late
  end
  local transfer = self.client.core:request(spec)
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
  local ok
  ok, err = start(self, err)
  if not ok then self.failed = err end
  return ok, err
end

-- After a call to the C reader: its results when it gave a value (a record,
-- bytes, or a record number and values); else waits, resumes, refreshes
-- and calls again. Returns nil at the end, or nil, err. (The argument is
-- not named `arg`: in a vararg function, PUC Lua 5.1 hides that name.)
local function settle(self, method, how, value, kind, message, ...)
  if value then return value, kind, message, ... end
  local rd = self.core
  if value == false then
    -- Nothing of use yet: the reader says how many bytes the source had
    -- shown it (one byte of a gzip header it cannot use alone, say); wait
    -- for more than that. Not the source's count now: it may have filled
    -- its ring since, and more than a full ring never comes.
    local transfer, shown = self.transfer, kind
    scheduler.wait_until(function() return transfer:done() or transfer:pending() > shown end)
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
  return settle(self, method, how, rd[method](rd, how))
end

-- A reader's errors leave the client here: scrubbed of secrets.
local function scrubbed(self, value, ...)
  if value == nil and ... ~= nil then return nil, self.client:scrub((...)) end
  return value, ...
end

-- Pulls the next value(s) from the C reader, waiting, resuming and
-- refreshing as needed. Returns the value(s), or nil at the end, or nil, err.
local function next_values(self, method, arg)
  local closed = self.client:check_open()
  if closed then return nil, closed end
  if self.failed then return nil, self.failed end
  if self.closed then return nil, errors.new("validation", self.label .. ": reader is closed") end
  if not self.transfer then
    local cannot = scheduler.cannot_wait()
    if cannot then self.failed = cannot return nil, cannot end
    local ok, err = start(self)
    if not ok then self.failed = err return nil, err end
  end
  self.slice()
  return settle(self, method, arg, self.core[method](self.core, arg))
end

local function pull(self, method, arg)
  return scrubbed(self, next_values(self, method, arg))
end

--- stream.iterator(client, cursor, fields, values, fallback [, tick]) ->
-- the function a generic for calls for records or values (core.iterator).
-- Where a wait yields (a task, an nginx handler), the C iterator hands
-- back after each slice of work (client.slice seconds) and whenever its
-- buffer cannot serve: this wrapper then pauses (scheduler.pause) and
-- calls the fallback here, in Lua, where yielding is allowed. Elsewhere the
-- C iterator is the whole loop.
function M.iterator(client, cursor, fields, values, fallback, tick)
  local cannot = scheduler.cannot_wait()
  if cannot then client:raise(cannot) end
  if not (scheduler.iterators_yield and scheduler.can_yield()) then
    return core.iterator(cursor, fields, values, fallback, tick)
  end
  local slice = client.slice or 0
  local buffered = core.iterator(cursor, fields, values, fallback, tick, slice)
  local pause = scheduler.pause
  local function pass(first, spent, ...)
    if first ~= false then return first, spent, ... end
    if spent then pause() end
    return fallback()
  end
  return function() return pass(buffered()) end
end

-- The iterators' end of pull: raises the (scrubbed) error, passes the rest on.
local function raise_or(value, ...)
  if value == nil and ... ~= nil then errors.raise((...)) end
  return value, ...
end

M.MAX_READ = 0x7fffffff

--- reader:prefetch(): starts the transfer now (a link is fetched and the
-- first bytes start arriving, within the reader's bounded buffer), so that
-- the first read does not wait for it. A failure worth trying again is left
-- for that read to try again; one that is not (a Location refused, say) is
-- kept, and the read reports it. Returns the reader.
function Reader:prefetch()
  if not self.transfer and not self.failed and not self.closed then
    local ok, err = start(self)
    if not ok then
      self.url = nil
      if type(err) == "table" and not err.retryable then self.failed = err end
    end
  end
  return self
end

--- reader:read([n]) -> up to n bytes of the file (decompressed), nil at the
-- end, or nil, err. n is a whole number from 1 to 2^31 - 1.
function Reader:read(n)
  if n ~= nil and not (type(n) == "number" and n >= 1 and n <= M.MAX_READ and n == math.floor(n)) then
    return nil, errors.new("validation", self.label .. ": read(n): n: expected a whole number from 1 to "
      .. M.MAX_READ .. ", got " .. (type(n) == "number" and tostring(n) or type(n)))
  end
  return pull(self, "read", n)
end

--- reader:lines() -> iterator over raw records (JSON text of each record);
-- raises err on failure.
function Reader:lines()
  return function()
    return raise_or(pull(self, "next"))
  end
end

local RECORDS_OPTIONS = {
  fields = { "table" },
}

--- A projection compiled from a list of fields, or nil, err.
function M.fields(list)
  if type(list) ~= "table" then
    return nil, errors.new("validation", "fields: expected a list of fields, got " .. type(list))
  end
  local fields, why = core.fields(list)
  if not fields then return nil, errors.new("validation", "fields: " .. why) end
  return fields
end

--- reader:next_record([fields]) -> the next record (only the fields of a
-- compiled projection, M.fields), nil at the end, or nil, err; waits.
function Reader:next_record(fields)
  return pull(self, "record", fields)
end

--- reader:next_values(fields) -> the record's number and one value a
-- field, nil at the end, or nil, err; waits.
function Reader:next_values(fields)
  return pull(self, "values", fields)
end

--- reader:records([{fields = {...}}]) -> iterator over records decoded to
-- tables (JSON), or rows (CSV: arrays of fields); raises err on failure. A
-- JSON record that is null is skipped. With fields, each record holds only
-- those fields (see README, "Fields"). Records already buffered come
-- straight from C; the Lua side only waits, resumes and raises.
function Reader:records(given)
  local opts, err = options.check(given, RECORDS_OPTIONS, "validation")
  if not opts then self.client:raise(err) end
  if self.format == "csv" then
    if opts.fields then self.client:raise(errors.new("validation", "fields: a CSV reader has rows, not records")) end
    return self:lines()
  end
  local fields
  if opts.fields then
    fields, err = M.fields(opts.fields)
    if not fields then self.client:raise(err) end
  end
  return M.iterator(self.client, { self.core, 0 }, fields, false, function()
    return raise_or(self:next_record(fields))
  end)
end

--- reader:values(fields) -> iterator over the records' fields without
-- tables: each step gives the record's number (from 1) and then one value
-- a listed field, nil where the record lacks it; raises err on failure.
function Reader:values(list)
  if self.format ~= "json" then self.client:raise(errors.new("validation", "values: needs a JSON file")) end
  local fields, err = M.fields(list)
  if not fields then self.client:raise(err) end
  return M.iterator(self.client, { self.core, 0 }, fields, true, function()
    return raise_or(self:next_values(fields))
  end)
end

--- reader:starting() -> whether the transfer is started but has not
-- brought any byte yet
function Reader:starting()
  local t = self.transfer
  return t ~= nil and not self.closed and not t:done() and t:pending() == 0 and self.core:consumed() == 0
end

--- reader:count() -> records (or rows) read so far, and how many of those
-- records were read through the stream's record index: with `fields`, or
-- values, on a plain (not gzip) JSON stream, the thread that receives the
-- stream finds each record's members ahead of the decoder (see the README)
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
    slice = scheduler.slicer(client.slice),          -- pauses lines, read and CSV rows
    core = core.reader({ format = opts.format or "json", compression = opts.compression,
      max_record = client.max_record }),
  }, Reader)
end

return M
