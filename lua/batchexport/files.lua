--- batchexport.files: saving exported files to disk safely. Bytes go to a
-- temporary file in the target folder, written by the C core straight from
-- the network; it is synced, checked against the expected size, then renamed
-- to its final name, so a final name only ever holds a whole file. A dropped
-- connection resumes with Range from the bytes on disk (from byte 0 again if
-- storage ignores Range); an expired link (403 from storage) is replaced by a
-- fresh one; all within the retry policy.
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local request = require("batchexport.request")
local scheduler = require("batchexport.scheduler")

local M = {}

--- A file name made only of characters safe anywhere, whatever the server sent.
function M.safe_name(s)
  s = tostring(s):gsub("[^%w%._%-]", "_"):gsub("^%.+", "_")
  if s == "" then s = "_" end
  return s:sub(1, 200)
end

local function size_on_disk(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n or 0
end

local function starts_with_gzip_magic(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local head = f:read(2)
  f:close()
  return head == "\31\139"
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function temp_name(final)
  return string.format("%s/.%s.%08x.part", dirname(final), final:match("([^/]*)$"),
    math.random(0, 0x7fffffff))
end

-- One attempt: GET the link into the temporary file from `offset` on.
local function fetch(client, url, tmp, offset, tick)
  local transfer = client.core:request({ method = "GET", url = url, auth = "none", sink = "file",
    path = tmp, append = offset > 0, resume_from = offset > 0 and offset or nil })
  scheduler.own(transfer)
  scheduler.await(transfer, tick and function() tick(offset + transfer:progress()) end)
  local res = transfer:result()
  transfer:close()
  return res
end

--- files.save(client, opts) -> path written, or nil, err.
--   opts.link()     -> a fresh storage URL, or nil, err
--   opts.path       final path (its folder must exist)
--   opts.size       expected bytes, or nil when unknown
--   opts.rename     function(tmp) -> final path, to pick the name once the
--                   bytes are known (e.g. .json vs .json.gz); default opts.path
--   opts.progress   function(bytes_done) called as bytes arrive
--   opts.label      for messages
function M.save(client, opts)
  local label = opts.label or opts.path
  local tmp = temp_name(opts.path)
  local resume = request.resumer(client, label, true)
  local url
  local function give_up(err)
    os.remove(tmp)
    return nil, err
  end
  while true do
    if not url then
      local err
      url, err = opts.link()
      if not url then
        err.message = label .. ": " .. err.message
        return give_up(err)
      end
    end
    local offset = size_on_disk(tmp)
    local res = fetch(client, url, tmp, offset, opts.progress)
    local done = size_on_disk(tmp)
    if res.error == nil and (res.status == 200 or res.status == 206) then
      if opts.size and done ~= opts.size then
        return give_up(errors.new("decode", label .. ": downloaded " .. done .. " bytes, " .. opts.size ..
          " expected", { status = res.status }))
      end
      local final = opts.rename and opts.rename(tmp) or opts.path
      local ok, why = os.rename(tmp, final)
      if not ok then
        return give_up(errors.new("config", label .. ": cannot rename into place: " .. tostring(why)))
      end
      core.sync_dir(dirname(final))
      return final
    end
    local next_step, err = resume(res, done)
    if not next_step then return give_up(err) end
    if next_step == "refresh" then url = nil end
    if next_step == "restart" then os.remove(tmp) end
  end
end

M.size_on_disk = size_on_disk
M.is_gzip = starts_with_gzip_magic

return M
