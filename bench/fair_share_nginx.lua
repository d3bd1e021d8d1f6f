-- bench/fair_share_nginx.lua [MB] [ROUNDS]: fair share in a real one-worker
-- nginx (issue 16). The OpenResty example (examples/openresty/, the LuaJIT
-- core from `make build-jit`) against a mock, with an export of MB (default
-- 100) in one part. While one handler streams every record (/records) or
-- saves the export (/download), this program asks /ping of the same worker,
-- one request at a time with 2 ms between them, and reports the pings'
-- median, 99th percentile and worst, and each handler's duration.
-- Run from the repository root:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/?.so;;' lua5.4 bench/fair_share_nginx.lua 100 3
local mock = require("spec.support.mock")
local nginx = require("spec.support.nginx")
local socket = require("socket")

local mb = tonumber(arg[1]) or 100
local rounds = tonumber(arg[2]) or 3

local m = mock.start()
local n, dir
local ok, err = pcall(function()
  local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = mb * 1024 * 1024 })
  local expected = m:file(e.files[1].id).records
  n = nginx.start(m)
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. mock.sh_quote(dir)))

  local function run(path)
    local pending = n:send(path)
    local times = {}
    while not pending.ready() do
      local status, _, took = n:get("/ping")
      assert(status == 200)
      times[#times + 1] = took
      socket.sleep(0.002)
    end
    local status, body, at = pending.finish()
    assert(status == 200, body)
    return times, at - pending.started, body
  end

  local function pct(sorted, p) return sorted[math.max(1, math.ceil(#sorted * p))] end

  print(string.format("export: %d MB, %d records, one nginx worker, %d rounds each", mb, expected, rounds))
  for _, what in ipairs({ "records", "download" }) do
    local all, durations = {}, {}
    for _ = 1, rounds do
      local path = what == "records" and ("/records?id=" .. e.id) or ("/download?id=" .. e.id .. "&dir=" .. dir)
      local times, seconds, body = run(path)
      if what == "records" then
        assert(tonumber(body:match('"records":(%d+)')) == expected, body)
      end
      for _, t in ipairs(times) do all[#all + 1] = t end
      durations[#durations + 1] = string.format("%.2f", seconds)
      os.execute("rm -f " .. mock.sh_quote(dir) .. "/*")
    end
    table.sort(all)
    print(string.format("/%-8s handler %s s; %d pings: median %.2f ms, p99 %.2f ms, worst %.2f ms",
      what, table.concat(durations, " / "), #all, pct(all, 0.5) * 1000, pct(all, 0.99) * 1000, all[#all] * 1000))
  end
  print((n:error_log():find("%[error%]")) and "nginx logged errors" or "nginx logged no error")
end)
if n then n:stop() end
if dir then os.execute("rm -rf " .. mock.sh_quote(dir)) end
m:stop()
if not ok then error(err, 0) end
