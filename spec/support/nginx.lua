-- spec/support/nginx.lua: the OpenResty example (examples/openresty/) run in
-- a real one-worker nginx (Debian's nginx + libnginx-mod-http-lua, the
-- LuaJIT build of the core) on a free loopback port, against a mock.
--
--   local n = nginx.start(m [, edit])   -- edit(conf) -> conf, before it starts
--   n.port; n:get(path) -> status, body, seconds; n:send(path) -> pending
--   (pending.finish() -> status, body, time complete); n:error_log(); n:stop()
local socket = require("socket")
local h = require("spec.support.helpers")

local M = {}

M.NGINX = "/usr/sbin/nginx"
M.MODULES = { "/usr/share/nginx/modules/ndk_http_module.so", "/usr/share/nginx/modules/ngx_http_lua_module.so" }

-- The sanitizer runtime some test modes preload must not reach nginx or make.
local CLEAN_ENV = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS "
local sh_quote = h.sh_quote

local read_file, write_file = h.read, h.write

local function repo_root()
  local p = io.popen("pwd")
  local dir = p:read("l")
  p:close()
  return dir
end

local Nginx = {}
Nginx.__index = Nginx

--- A request sent now, read later: :finish() gives status, body and the
-- time the response was complete.
function Nginx:send(path)
  local c = assert(socket.tcp())
  c:settimeout(120)
  assert(c:connect("127.0.0.1", self.port))
  assert(c:send("GET " .. path .. " HTTP/1.0\r\nHost: localhost\r\n\r\n"))
  local pending = { started = socket.gettime(), socket = c }
  function pending.finish()
    local data, err, partial = c:receive("*a")
    local at = socket.gettime()
    c:close()
    data = data or partial
    assert(data and data ~= "", "no response: " .. tostring(err))
    return tonumber(data:match("^HTTP/1%.%d (%d+)")), data:match("\r\n\r\n(.*)$"), at
  end
  -- Whether the response has begun arriving (without reading it).
  function pending.ready()
    local readable = socket.select({ c }, nil, 0)
    return readable[1] ~= nil
  end
  return pending
end

function Nginx:get(path)
  local r = self:send(path)
  local status, body, at = r.finish()
  return status, body, at - r.started
end

function Nginx:error_log()
  return read_file(self.prefix .. "/logs/error.log") or ""
end

function Nginx:stop()
  os.execute(CLEAN_ENV .. M.NGINX .. " -p " .. sh_quote(self.prefix) .. " -c nginx.conf -s stop 2>/dev/null")
  local deadline = socket.gettime() + 5
  while io.open(self.prefix .. "/logs/nginx.pid") and socket.gettime() < deadline do socket.sleep(0.02) end
  h.rmrf(self.prefix)
end

function M.start(m, edit)
  assert(io.open(M.NGINX), "nginx is not installed (make deps installs nginx-light and libnginx-mod-http-lua)")
  for _, mod in ipairs(M.MODULES) do assert(io.open(mod), mod .. " is missing") end
  local root = repo_root()
  -- The LuaJIT build of the core (Lua 5.1 API), as nginx loads it.
  assert(os.execute(CLEAN_ENV .. "make -s build-jit >/dev/null"), "make build-jit failed")
  local self = setmetatable({ root = root }, Nginx)
  self.prefix = h.tmpdir()
  assert(os.execute("mkdir -p " .. sh_quote(self.prefix .. "/logs")))
  -- The example's own configuration, with the repository's paths and (as
  -- root) the workers' user filled in; its port, each attempt's.
  local conf = assert(read_file(root .. "/examples/openresty/nginx.conf"))
  conf = conf:gsub("%$prefix/%.%./%.%.", root)
  conf = conf:gsub("%$prefix/%?%.lua", root .. "/examples/openresty/?.lua")
  if edit then conf = edit(conf) end
  local id = io.popen("id -u")
  if id:read("l") == "0" then conf = "user root root;\n" .. conf end
  id:close()
  local env = string.format("MOCK_API_URL=%s BATCH_REST_KEY=%s BATCH_PROJECT_KEY=%s BATCH_API_KEY=%s ",
    sh_quote(m.api_url), sh_quote(m.rest_key), sh_quote(m.project_key), sh_quote(m.api_key))
  -- A free port may be taken before nginx binds it: then another one.
  for attempt = 1, 5 do
    self.port = h.free_port()
    write_file(self.prefix .. "/nginx.conf", (conf:gsub("127%.0%.0%.1:8089", "127.0.0.1:" .. self.port)))
    local ok = os.execute(CLEAN_ENV .. env .. M.NGINX .. " -p " .. sh_quote(self.prefix) .. " -c nginx.conf -g 'error_log "
      .. self.prefix .. "/logs/error.log info;' 2>" .. sh_quote(self.prefix .. "/start.err"))
    if ok then break end
    local why = tostring(read_file(self.prefix .. "/start.err"))
    assert(attempt < 5 and why:find("Address already in use", 1, true), "nginx did not start: " .. why)
  end
  local deadline = socket.gettime() + 10
  while true do
    local c = socket.tcp()
    c:settimeout(0.2)
    local connected = c:connect("127.0.0.1", self.port)
    c:close()
    if connected then break end
    assert(socket.gettime() < deadline, "nginx is not listening: " .. self:error_log())
    socket.sleep(0.02)
  end
  return self
end

return M
