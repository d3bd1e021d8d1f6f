-- bench/common.lua: what every bench program shares. Each program prints one
-- line of key=value pairs on stdout, which bench/compare.lua parses.
local socket = require("socket")

local M = {}

M.now = socket.gettime

function M.env(name)
  local v = os.getenv(name)
  if not v or v == "" then error(name .. " is not set (run bench/run.sh, or eval the mock's start output)", 2) end
  return v
end

--- The peak resident set size of this process so far, in KiB (VmHWM).
function M.vmhwm_kb()
  local f = assert(io.open("/proc/self/status", "r"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)%s*kB"))
end

--- The project's client, pointed at the mock.
function M.client()
  local batchexport = require("batchexport")
  return assert(batchexport.new({
    rest_key = M.env("BATCH_REST_KEY"),
    project_key = M.env("BATCH_PROJECT_KEY"),
    base_url = M.env("MOCK_API_URL"),
  }))
end

--- Prints key=value pairs, always with the peak RSS at the end.
function M.report(t)
  t.hwm_kb = M.vmhwm_kb()
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = k .. "=" .. tostring(t[k]) end
  io.write(table.concat(out, " "), "\n")
end

return M
