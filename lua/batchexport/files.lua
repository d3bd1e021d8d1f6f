--- batchexport.files: saving exported files to disk safely. Bytes go to a
-- temporary file beside the final name, ".<final name>.<8 hex>.part", created
-- by the C core exclusively (never through a link someone planted, under a
-- name from the OS's random source), mode 0600 and locked while written, and
-- filled straight from the network. Once whole it is synced, checked against
-- the expected size, given the mode the umask gives (0666 & ~umask, as
-- `curl -o` does), renamed over the final name and its folder synced, so a
-- final name only ever holds a whole file. A dropped connection resumes with
-- Range from the bytes on disk (from byte 0 again if storage ignores Range);
-- an expired link (403 from storage) is replaced by a fresh one; all within
-- the retry policy.
--
-- Every way out of a save that does not end in the rename removes the
-- temporary file: an error, a progress callback that raises (its value comes
-- back as the error, unchanged), a raise from anywhere below (raised again,
-- after the cleanup), a cancelled task (the scheduler closes what it owns). Before it
-- starts, a save removes the temporary files a killed run left for the same
-- final name (those no live process holds locked).
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local request = require("batchexport.request")
local scheduler = require("batchexport.scheduler")

local M = {}

local GZIP_MAGIC = "\31\139"

--- A file name made only of characters safe anywhere, whatever the server sent.
function M.safe_name(s)
  s = tostring(s):gsub("[^%w%._%-]", "_"):gsub("^%.+", "_")
  if s == "" then s = "_" end
  return s:sub(1, 200)
end

-- One attempt: GET the link into the temporary file from `offset` on.
-- Returns the transfer's result; or nil, { value = v } when the progress
-- callback raised v (the transfer is then closed at once); or nil,
-- { late = err } when the call's deadline left no time for it (after, the
-- failure this attempt follows, is its context).
local function fetch(client, url, tmp, offset, progress, after)
  local spec, late = request.limit_spec(client, { method = "GET", url = url, auth = "none", sink = "file",
    file = tmp, append = offset > 0, resume_from = offset > 0 and offset or nil }, after)
  if not spec then return nil, { late = late } end
  local transfer = client.core:request(spec)
  local raised
  local tick = progress and function()
    if raised then return end
    local ok, why = pcall(progress, offset + transfer:progress())
    if not ok then
      raised = { value = why }
      transfer:close()
    end
  end
  local ok, why = pcall(function()
    scheduler.own(transfer)
    scheduler.await(transfer, tick)
  end)
  if not ok then
    transfer:close()
    error(why, 0)
  end
  if raised then return nil, raised end
  local res = transfer:result()
  transfer:close()
  return res
end

-- tmp:commit(final), but where waiting yields (a task, an nginx handler) its
-- syncs and rename run on a thread of their own while the caller pauses, so
-- a slow disk does not hold the event loop. A cancel meanwhile closes tmp,
-- which waits for that thread before it removes anything.
local function put_in_place(tmp, final, mode)
  if not scheduler.can_yield() then return tmp:commit(final, mode) end
  local ok, why = tmp:commit_start(final, mode)
  if not ok then return nil, why end
  while true do
    ok, why = tmp:commit_result()
    if ok ~= nil then return ok or nil, why end
    scheduler.pause()
  end
end

-- The whole file is in tmp: check it, pick its name, put it in place. Both
-- saves (files.save, files.write) end here.
local function commit(tmp, opts, label, done, status)
  if opts.size and done ~= opts.size then
    return nil, errors.new("decode", label .. ": downloaded " .. done .. " bytes, " .. opts.size .. " expected",
      { status = status })
  end
  local final = opts.path
  if opts.gzip_path then
    local head, why = tmp:head(#GZIP_MAGIC)
    if not head then return nil, errors.new("config", label .. ": " .. why) end
    if head == GZIP_MAGIC then final = opts.gzip_path end
  end
  local ok, why = put_in_place(tmp, final, opts.private and "private" or "shared")
  if not ok then return nil, errors.new("config", label .. ": " .. why) end
  return final
end

local function size_of(tmp, label)
  local n, why = tmp:size()
  if not n then return nil, errors.new("config", label .. ": " .. why) end
  return n
end

local function save_into(client, opts, tmp, label)
  local resume = request.resumer(client, label, true)
  local url, err
  local from_zero = false     -- storage ignored Range: the sink empties tmp
  local after                 -- the failure the next attempt follows
  while true do
    if not url then
      url, err = opts.link()
      if not url then
        err.message = label .. ": " .. err.message
        return nil, err
      end
    end
    local offset, done = 0
    if not from_zero then
      offset, err = size_of(tmp, label)
      if not offset then return nil, err end
    end
    local res, stopped = fetch(client, url, tmp, offset, opts.progress, after)
    if stopped and stopped.late then
      stopped.late.message = label .. ": " .. stopped.late.message
      return nil, stopped.late
    end
    if stopped then return nil, stopped.value end
    done, err = size_of(tmp, label)
    if not done then return nil, err end
    if res.error == nil and (res.status == 200 or res.status == 206) then
      return commit(tmp, opts, label, done, res.status)
    end
    local next_step
    next_step, err = resume(res, done)
    if not next_step then return nil, err end
    after = err
    if next_step == "refresh" then url = nil end
    from_zero = next_step == "restart"
  end
end

-- fill(tmp) with a temporary file for path that is removed on every way out
-- but the rename: an error, a raise (raised again after), a cancelled task
-- (the scheduler closes what it owns).
local function through_temp(path, label, fill)
  local tmp, why = core.tempfile(path)
  if not tmp then return nil, errors.new("config", label .. ": " .. why) end
  local ok, saved, err = pcall(function()
    scheduler.own(tmp)     -- cancelling the task closes (removes) it at once
    return fill(tmp)
  end)
  if not (ok and saved) then tmp:close() end
  if not ok then error(saved, 0) end
  return saved, err
end

--- files.sweep(path) -> how many temporary files a killed save left for
-- the final name path were removed (those no live save holds locked), or
-- nil, message. Their names are the C core's to make and to recognise.
function M.sweep(path)
  return core.sweep_temps(path)
end

--- files.save(c, opts) -> path written, or nil, err (c: a client or a call,
-- request.call, whose deadline bounds every attempt and wait).
--   opts.link()     -> a fresh storage URL, or nil, err
--   opts.path       final path (its folder must exist)
--   opts.gzip_path  final path instead of opts.path when the bytes are gzip
--                   (same folder)
--   opts.size       expected bytes, or nil when unknown
--   opts.progress   function(bytes_done) called as bytes arrive; if it
--                   raises, the save stops and returns nil and what it raised
--   opts.label      for messages
-- err is a batchexport error, or the value the progress callback raised.
function M.save(client, opts)
  local label = opts.label or opts.path
  local swept = M.sweep(opts.path)
  if swept and swept > 0 then
    client:log("info", string.format("%s: removed %d leftover temporary file(s)", label, swept))
  end
  return through_temp(opts.path, label, function(tmp) return save_into(client, opts, tmp, label) end)
end

--- files.write(path, source [, opts]) -> path written, or nil, err: the same
-- atomic save for bytes the caller has rather than a link: source is the
-- text, or a function giving the next chunk (nil at the end, or nil, err).
--   opts.gzip_path  final path instead of path when the bytes are gzip
--   opts.label      for messages (default: path)
--   opts.private    the file stays 0600 (it holds keys) instead of taking
--                   the mode the umask gives
function M.write(path, source, opts)
  opts = opts or {}
  local label = opts.label or path
  if type(source) == "string" then
    local text = source
    source = function() local chunk = text; text = nil; return chunk end
  end
  return through_temp(path, label, function(tmp)
    while true do
      local chunk, err = source()
      if chunk == nil then
        if err then return nil, err end
        break
      end
      local ok, why = tmp:write(chunk)
      if not ok then return nil, errors.new("config", label .. ": " .. why) end
    end
    local done, err = size_of(tmp, label)
    if not done then return nil, err end
    return commit(tmp, { path = path, gzip_path = opts.gzip_path, private = opts.private }, label, done)
  end)
end

return M
