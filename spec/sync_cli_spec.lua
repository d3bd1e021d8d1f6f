-- `batchexport sync` and examples/openresty/sync_timer.lua against the mock:
-- the command (bin/batchexport, Lua 5.4) lands, then has nothing to do, with
-- its exit codes; in bounded memory; one run at a time; a gap refused, then
-- accepted; runs killed (SIGKILL) at random moments and run again land the
-- same files, no range twice. Their subjects run in processes of their own
-- on a fixed Lua (the command's 5.4, nginx's LuaJIT), so scripts/test.sh runs
-- this file once, not on every interpreter as sync_spec.lua.
local support_cli = require("spec.support.cli")
local h = require("spec.support.helpers")
local cjson = require("cjson")
local socket = require("socket")

local BIN = support_cli.BIN

local sh_quote, slurp, spit = h.sh_quote, h.read, h.write
local S = require("spec.support.sync")

describe("sync from outside the interpreter", function()
  local m, tmp, new_dir

  setup(function()
    m, tmp = S.start()
    new_dir = S.folders(tmp)
  end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)
  before_each(function() m:reset() end)

  describe("examples/openresty/sync_timer.lua", function()
    it("lands from an ngx.timer.every in nginx's worker", function()
      local nginx = "/usr/sbin/nginx"
      local modules = { "/usr/share/nginx/modules/ndk_http_module.so", "/usr/share/nginx/modules/ngx_http_lua_module.so" }
      assert(io.open(nginx), "nginx is not installed")
      local clean = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS "
      assert(os.execute(clean .. "make -s build-jit >/dev/null"), "make build-jit failed")
      local root = io.popen("pwd"):read("l")
      local prefix, dir = new_dir(), new_dir()
      assert(os.execute("mkdir -p " .. sh_quote(prefix .. "/logs")))
      local user = io.popen("id -u"):read("l") == "0" and "user root root;\n" or ""
      spit(prefix .. "/nginx.conf", user .. ([[
worker_processes 1;
daemon on;
pid logs/nginx.pid;
error_log logs/error.log notice;
load_module %s;
load_module %s;
env MOCK_API_URL;
env BATCH_REST_KEY;
env BATCH_PROJECT_KEY;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path logs/body;
    lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;%s/examples/openresty/?.lua;/usr/share/lua/5.1/?.lua;;";
    lua_package_cpath "%s/build-jit/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
    init_worker_by_lua_block {
        require("sync_timer").start({ dir = %q, every = 0.5, events = { "email_open" }, interval = 0.05 })
    }
}
]]):format(modules[1], modules[2], root, root, root, root, dir))
      local env = ("MOCK_API_URL=%s BATCH_REST_KEY=%s BATCH_PROJECT_KEY=%s "):format(
        sh_quote(m.api_url), sh_quote(m.rest_key), sh_quote(m.project_key))
      assert(os.execute(clean .. env .. nginx .. " -p " .. sh_quote(prefix) .. " -c nginx.conf 2>/dev/null"))
      local state
      for _ = 1, 300 do
        local text = slurp(dir .. "/events/state.json")
        state = text and cjson.decode(text)
        if state and #state.history > 0 then break end
        socket.sleep(0.05)
      end
      os.execute(clean .. nginx .. " -p " .. sh_quote(prefix) .. " -c nginx.conf -s stop 2>/dev/null")
      for _ = 1, 100 do
        if not io.open(prefix .. "/logs/nginx.pid") then break end
        socket.sleep(0.05)
      end
      assert.is_table(state, slurp(prefix .. "/logs/error.log"))
      assert.is_true(#state.history > 0)
      assert.matches("sync: landed", slurp(prefix .. "/logs/error.log"))
    end)
  end)

  describe("batchexport sync", function()
    -- The command line running bin/batchexport with args (under `wrapper`,
    -- e.g. /usr/bin/time, when given) in a clean environment.
    local function command(args, wrapper)
      local parts = { support_cli.env({ PATH = os.getenv("PATH"), HOME = tmp, BATCH_BASE_URL = m.api_url,
        BATCH_REST_KEY = m.rest_key, BATCH_PROJECT_KEY = m.project_key, BATCH_API_KEY = m.api_key }), wrapper or BIN }
      if wrapper then parts[#parts + 1] = BIN end
      for _, a in ipairs(args) do parts[#parts + 1] = sh_quote(a) end
      return table.concat(parts, " ")
    end

    local function run(args)
      local p = assert(io.popen(command(args) .. " 2>" .. sh_quote(tmp .. "/stderr") .. "; echo \"exit=$?\""))
      local out = p:read("a")
      p:close()
      return tonumber(out:match("exit=(%d+)%s*$")), out:gsub("exit=%d+%s*$", ""), slurp(tmp .. "/stderr")
    end

    -- Starts the command in the background; returns its pid.
    local function spawn(args, out)
      local p = assert(io.popen(command(args) .. " >" .. sh_quote(out) .. " 2>&1 & echo $!"))
      local pid = tonumber(p:read("a"):match("(%d+)"))
      p:close()
      return pid
    end

    local function alive(pid)
      local ok = os.execute("kill -0 " .. pid .. " 2>/dev/null")
      return ok == true or ok == 0                      -- 5.4: true; LuaJIT (5.1): the status
    end

    local function wait_exit(pid)
      while alive(pid) do socket.sleep(0.02) end   -- real time: a process is exiting
    end

    local function events_args(dir, now)
      return { "sync", "events", "--dir", dir, "-e", table.concat(S.EVENTS, ","), "--since", "2d", "--lag", "15m",
        "--max-range", "1d", "--now", S.stamp(now), "--interval", "0.05", "--json" }
    end

    it("lands, then has nothing to do, with their exit codes and --json", function()
      local dir = new_dir()
      local now = m:now()
      local code, out, err = run(events_args(dir, now))
      assert.equal(0, code, err)
      local summary = cjson.decode(out)
      assert.equal("landed", summary.status)
      code, out = run(events_args(dir, now))
      assert.equal(6, code)
      assert.equal("nothing", cjson.decode(out).status)
    end)

    it("streams a 64 MB part to disk once, in under 40 MB of memory", function()
      local dir = new_dir()
      m:plan({ parts = 1, part_size = 64 * 1024 * 1024 })
      local args = events_args(dir, m:now())
      args[#args + 1] = "--max-range"
      args[#args + 1] = "3d"
      local p = assert(io.popen(command(args, "/usr/bin/time -f maxrss=%M") .. " 2>&1 >/dev/null; echo \"exit=$?\""))
      local out = p:read("a")
      p:close()
      assert.equal("0", out:match("exit=(%d+)"), out)
      local kb = tonumber(out:match("maxrss=(%d+)"))
      print(("  sync of a 64 MB part: peak resident memory %s KB"):format(tostring(kb)))
      assert.is_true(kb < 40 * 1024, "peak resident memory " .. tostring(kb) .. " KB")
      local mfs = S.manifests(dir .. "/events")
      assert.equal(1, #mfs)
      assert.equal(64 * 1024 * 1024, mfs[1].files[1].size)
      assert.equal((m:file_sha256(mfs[1].files[1].id)), mfs[1].files[1].sha256)
      local storage_gets = 0
      for _, r in ipairs(m:log().requests) do
        if r.host == "storage" then storage_gets = storage_gets + 1 end
      end
      assert.equal(1, storage_gets)            -- the part was read from the network once
    end)

    it("sync legacy KIND lands, then has nothing to do", function()
      local dir = new_dir()
      local now = m:now()
      local args = { "sync", "legacy", "campaign_events", "--dir", dir, "--token", "tok", "-e", "push_open",
        "--ids", "custom_id", "--since", "1d", "--now", S.stamp(now), "--interval", "0.05", "--json" }
      local code, out, err = run(args)
      assert.equal(0, code, err)
      assert.equal("landed", cjson.decode(out).status)
      code = run(args)
      assert.equal(6, code)
      assert.equal(1, #S.manifests(dir .. "/legacy-campaign_events-tok"))
    end)

    it("rejects a bad --since, --lag or --max-range as usage errors before any request", function()
      local dir = new_dir()
      m:clear_log()
      for _, bad in ipairs({ { "--since", "yesterday" }, { "--lag", "5y" }, { "--max-range", "0d" } }) do
        local args = { "sync", "events", "--dir", dir, "-e", "email_open", bad[1], bad[2] }
        local code = run(args)
        assert.equal(2, code)
      end
      assert.equal(0, #m:log().requests)
    end)

    it("two runs started together: one lands, the other exits 7 and touches nothing", function()
      local dir = new_dir()
      m:plan({ duration = 150 })        -- 3 s at speed 50: the first holds the lock meanwhile
      local now = m:now()
      local args = events_args(dir, now)
      args[#args + 1] = "--max-range"
      args[#args + 1] = "3d"
      local a = spawn(args, tmp .. "/a.out")
      socket.sleep(0.5)                 -- real time: the first process starts and takes the lock
      local code, _, err = run(args)
      assert.equal(7, code)
      assert.matches("another sync run holds the lock", err)
      assert.is_true(alive(a))
      wait_exit(a)
      local mfs = S.check_landing(m, dir .. "/events", S.stamp(now - 2 * 86400), S.stamp(now - 15 * 60))
      local _, posts = S.check_no_range_twice(m)
      assert.equal(1, #mfs)
      assert.equal(1, posts)
    end)

    it("refuses a gap with exit 8, then records it with --accept-gap", function()
      local dir = new_dir()
      local now = m:now()
      local args = { "sync", "events", "--dir", dir, "-e", "email_open", "--since", S.stamp(now - 95 * 86400),
        "--max-range", "100d", "--now", S.stamp(now), "--interval", "0.05" }
      local code, _, err = run(args)
      assert.equal(8, code)
      assert.matches("can no longer be exported", err)
      args[#args + 1] = "--accept-gap"
      code, _, err = run(args)
      assert.equal(0, code, err)
      local state = cjson.decode(slurp(dir .. "/events/state.json"))
      assert.is_true(state.history[1].gap)
    end)

    it("killed at random moments and run again, lands every range once, byte-identical", function()
      local seed = tonumber(os.getenv("SYNC_SEED") or "") or os.time()
      print("sync kill spec: seed " .. seed .. " (SYNC_SEED=" .. seed .. " to replay)")
      math.randomseed(seed)
      local dir = new_dir()
      local first, last
      local phases = { "create", "wait", "download", "state" }
      local interrupted, in_flight_left = {}, 0
      for i = 1, 10 do
        m:advance(5 * 3600)
        local now = m:now()
        first = first or S.stamp(now - 2 * 86400)
        local phase = phases[math.random(#phases)]
        if phase == "create" then
          m:fault({ method = "POST", path = "/2.11/profiles/export", delay = 1 })
        elseif phase == "wait" then
          m:plan({ duration = 100 })
        elseif phase == "download" then
          m:plan({ parts = 3, part_size = 262144 })
          m:fault({ host = "storage", stall = 1, times = 3 })
        end
        local pid = spawn(events_args(dir, now), tmp .. "/killed.out")
        local moment = math.random() * (phase == "state" and 0.6 or 1.2)
        socket.sleep(moment)            -- real time on purpose: a kill at a random moment of a live run
        local was_running = alive(pid)
        os.execute("kill -9 " .. pid .. " 2>/dev/null")
        wait_exit(pid)
        local text = slurp(dir .. "/events/state.json")
        local left = text and cjson.decode(text).in_flight
        if was_running then interrupted[phase] = (interrupted[phase] or 0) + 1 end
        if left then in_flight_left = in_flight_left + 1 end
        m:clear_faults()
        local code, out, err = run(events_args(dir, now))
        assert.is_true(code == 0 or code == 6, ("run %d (%s, killed at %.2f s): exit %s %s %s"):format(
          i, phase, moment, tostring(code), out, err))
        last = S.stamp(now - 15 * 60)
        local state = cjson.decode(slurp(dir .. "/events/state.json"))
        assert.equal(last, os.date("!%Y-%m-%dT%H:%M:%SZ", state.watermark))
      end
      local killed = 0
      for phase, count in pairs(interrupted) do
        print(("  killed during %s: %d"):format(phase, count))
        killed = killed + count
      end
      print("  runs killed with an export in flight: " .. in_flight_left)
      assert.is_true(killed >= 5, "most kills must land while the run is still going")
      assert.is_true(in_flight_left >= 1, "some kills must leave an export in flight")
      local mfs = S.check_landing(m, dir .. "/events", first, last)
      local exported, posts = S.check_no_range_twice(m)
      assert.equal(#mfs, exported)
      assert.is_true(posts >= #mfs)      -- a create killed before its answer may be retried: never landed twice
    end)
  end)
end)
