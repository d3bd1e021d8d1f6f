-- --watch-pid: a test runner that dies (killed, crashed, timed out) must not
-- leave its mock running, so the instance watches it and stops itself.
local ffi = require("ffi")
local state = require("batchmock.state")

pcall(ffi.cdef, "int kill(int pid, int sig);")

local M = {}

local function alive(pid)
  local fh = io.open("/proc/" .. pid .. "/stat", "rb")
  if not fh then return false end
  local stat = fh:read("*a")
  fh:close()
  local st = stat:match("%) (%u) ")
  return st ~= nil and st ~= "Z" and st ~= "X"
end

function M.start()
  local cfg = state.start_cfg()
  local pid = cfg and cfg.watch_pid
  if not pid then return end
  ngx.timer.every(1, function(premature)
    if premature or alive(pid) then return end
    ngx.log(ngx.WARN, "watched process ", pid, " is gone: stopping this mock")
    local fh = io.open(cfg.prefix .. "/logs/nginx.pid", "rb")
    local master = fh and tonumber((fh:read("*a") or ""):match("%d+"))
    if fh then fh:close() end
    if cfg.remove_prefix then
      -- removed once nginx is down, by a detached shell
      os.execute("(sleep 2; rm -rf '" .. cfg.prefix:gsub("'", "'\\''") .. "') >/dev/null 2>&1 &")
    end
    if master then ffi.C.kill(master, 15) end
  end)
end

return M
