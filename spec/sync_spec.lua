-- exports.sync, legacy.sync and examples/sync_cron.lua against the mock, in
-- the interpreter running the suite: runs on an advancing clock tile time
-- exactly, no range twice; one run at a time; the lookback; snapshots kept;
-- bad state refused and never overwritten. The command and nginx's timer
-- (a fixed Lua each): sync_cli_spec.lua.
local support_client = require("spec.support.client")
local h = require("spec.support.helpers")
local batchexport = require("batchexport")
local core = require("batchexport.core")
local cjson = require("cjson")

local sh_quote, slurp, spit, sha256_of = h.sh_quote, h.read, h.write, h.sha256
local S = require("spec.support.sync")

describe("sync", function()
  local m, tmp, new_dir

  local function client() return support_client.new(m, support_client.QUICK) end

  local function sync_events(c, dir, extra)
    local opts = { dir = dir, events = S.EVENTS, since = "2d", lag = "15m", max_range = "1d",
      now = m:now(), interval = 0.05, max_interval = 0.2 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return c.exports.sync(opts)
  end

  setup(function()
    m, tmp = S.start()
    new_dir = S.folders(tmp)
  end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)
  before_each(function() m:reset() end)

  describe("exports.sync", function()
    it("lands five runs on an advancing clock: ranges tile time, each range once", function()
      local c, dir = client(), new_dir()
      local first, last
      for run = 1, 5 do
        local now = m:now()
        first = first or S.stamp(now - 2 * 86400)
        local summary, err = sync_events(c, dir, { now = now })
        assert.is_nil(err)
        assert.equal("landed", summary.status)
        assert.is_true(#summary.landed >= 1, "run " .. run)
        last = summary.watermark
        assert.equal(S.stamp(now - 15 * 60), last)
        m:advance(6 * 3600)
      end
      local mfs = S.check_landing(m, dir .. "/events", first, last)
      local exported, posts = S.check_no_range_twice(m)
      assert.equal(#mfs, exported)
      assert.equal(#mfs, posts)
      local state = cjson.decode(slurp(dir .. "/events/state.json"))
      assert.equal(1, state.version)
      assert.is_nil(state.in_flight)
      assert.equal(#mfs, #state.history)
    end)

    it("with nothing to do makes no API call", function()
      local c, dir = client(), new_dir()
      local now = m:now()
      assert(sync_events(c, dir, { now = now }))
      m:clear_log()
      local summary = assert(sync_events(c, dir, { now = now }))
      assert.equal("nothing", summary.status)
      assert.equal(0, #m:log().requests)
    end)

    it("refuses a second run while one holds the lock, touching nothing", function()
      local c, dir = client(), new_dir()
      assert(sync_events(c, dir))
      local before = slurp(dir .. "/events/state.json")
      local names = h.ls(dir .. "/events")
      m:clear_log()
      local held = assert(core.lock(dir .. "/events/.lock"))
      m:advance(6 * 3600)
      local summary, err = sync_events(c, dir)
      held:close()
      assert.is_nil(summary)
      assert.equal("config", err.kind)
      assert.is_true(err.locked)
      assert.matches("another sync run holds the lock", err.message)
      assert.equal(before, slurp(dir .. "/events/state.json"))
      assert.same(names, h.ls(dir .. "/events"))
      assert.equal(0, #m:log().requests)
    end)

    it("refuses a watermark past the lookback, then records the gap with accept_gap", function()
      local c, dir = client(), new_dir()
      local now = math.floor(m:now())
      local since = S.stamp(now - 100 * 86400)
      m:clear_log()
      local summary, err = sync_events(c, dir, { since = since, max_range = "100d", now = now })
      assert.is_nil(summary)
      assert.equal("validation", err.kind)
      assert.matches("the range " .. since:gsub("%-", "%%-") .. " to", err.message)
      assert.equal(since, err.gap.from)
      assert.equal(0, #m:log().requests)
      summary = assert(sync_events(c, dir, { since = since, max_range = "100d", now = now, accept_gap = true }))
      assert.equal("landed", summary.status)
      assert.equal(since, summary.gap.from)
      local state = cjson.decode(slurp(dir .. "/events/state.json"))
      assert.is_true(state.history[1].gap)
      assert.equal(since, state.history[1].from)
      assert.equal(summary.gap.to, state.history[2].from)
    end)

    it("refuses a corrupt, nonsense or newer state and never overwrites it", function()
      local c = client()
      local bad = {
        "{not json",
        cjson.encode({ format = "batchexport-sync", version = 1, kind = "events", watermark = "soon", history = {} }),
        cjson.encode({ format = "batchexport-sync", version = 99, kind = "events", watermark = 1, history = {} }),
        cjson.encode({ hello = "world" }),
      }
      for i, text in ipairs(bad) do
        local dir = new_dir()
        assert(os.execute("mkdir -p " .. sh_quote(dir .. "/events")))
        spit(dir .. "/events/state.json", text)
        local summary, err = sync_events(c, dir)
        assert.is_nil(summary, "state " .. i)
        assert.equal("config", err.kind)
        assert.equal(dir .. "/events/state.json", err.state)
        assert.equal(text, slurp(dir .. "/events/state.json"))
        if i == 3 then assert.matches("newer", err.message) end
      end
    end)

    it("checks since, lag and max_range before any request", function()
      local c, dir = client(), new_dir()
      m:clear_log()
      for _, extra in ipairs({ { since = "7x" }, { lag = "-1m" }, { max_range = 0 }, { max_range = "1y" },
        { events = { "email_bogus" } }, { events = {} } }) do
        local summary, err = sync_events(c, dir, extra)
        assert.is_nil(summary)
        assert.equal("validation", err.kind)
      end
      assert.equal(0, #m:log().requests)
      assert.same({}, h.ls(dir))
    end)

    it("keeps the last three attribute snapshots after five runs", function()
      local c, dir = client(), new_dir()
      for _ = 1, 5 do
        local summary = assert(c.exports.sync({ dir = dir, attributes = { "$language" }, identifiers = { "custom_id" },
          keep = 3, now = m:now(), interval = 0.05, max_interval = 0.2 }))
        assert.equal("landed", summary.status)
        m:advance(3600)
      end
      local snaps = {}
      for _, name in ipairs(h.ls(dir .. "/attributes")) do
        if name:match("^%d+T%d+Z$") then snaps[#snaps + 1] = name end
      end
      assert.equal(3, #snaps)
      for _, name in ipairs(snaps) do
        local mf = cjson.decode(slurp(dir .. "/attributes/" .. name .. "/manifest.json"))
        for _, f in ipairs(mf.files) do
          assert.equal((m:file_sha256(f.id)), sha256_of(dir .. "/attributes/" .. name .. "/" .. f.name))
        end
      end
    end)

    it("leaves the watermark and no range folder when a download fails", function()
      local c, dir = client(), new_dir()
      assert(sync_events(c, dir))
      local before = slurp(dir .. "/events/state.json")
      m:advance(6 * 3600)
      m:fault({ host = "storage", status = 404, times = 20 })
      local summary, err = sync_events(c, dir)
      assert.is_nil(summary)
      assert.is_not_nil(err)
      local state = cjson.decode(slurp(dir .. "/events/state.json"))
      assert.equal(cjson.decode(before).watermark, state.watermark)
      assert.is_not_nil(state.in_flight)         -- resumed next time, not created again
      m:clear_faults()
      local now = m:now()
      assert(sync_events(c, dir, { now = now }))
      local _, posts = S.check_no_range_twice(m)
      S.check_landing(m, dir .. "/events", S.manifests(dir .. "/events")[1].from, S.stamp(now - 15 * 60))
      assert.equal(#S.manifests(dir .. "/events"), posts)
    end)
  end)

  describe("legacy.sync", function()
    it("lands three runs of campaign events on an advancing clock, each range once, rows counted", function()
      local c, dir = client(), new_dir()
      c = assert(batchexport.new({ rest_key = m.rest_key, api_key = m.api_key, base_url = m.api_url,
        backoff_base = 0.01, backoff_max = 0.05 }))
      local first, last
      for _ = 1, 3 do
        m:legacy_plan({ rows = 20 })
        m:legacy_plan({ rows = 20 })
        local now = math.floor(m:now())
        first = first or S.stamp(now - 2 * 86400)
        local summary, err = c.legacy.sync("campaign_events", { dir = dir, token = "campaign-token-1",
          events = { "push_open" }, ids = { "custom_id" }, since = "2d", max_range = "1d", now = now,
          interval = 0.05, max_interval = 0.2 })
        assert.is_nil(err)
        assert.equal("landed", summary.status)
        last = S.stamp(now - 15 * 60)
        m:advance(6 * 3600)
      end
      local kind_dir = dir .. "/legacy-campaign_events-campaign-token-1"
      local mfs = S.manifests(kind_dir)
      assert.equal(first, mfs[1].from)
      for i = 2, #mfs do assert.equal(mfs[i - 1].to, mfs[i].from) end
      assert.equal(last, mfs[#mfs].to)
      for _, mf in ipairs(mfs) do
        local f = mf.files[1]
        assert.matches("%.csv$", f.name)
        assert.equal(20, f.records)
        assert.equal((m:file_sha256("lfile_" .. mf.export)), sha256_of(mf.folder .. "/" .. f.name))
        assert.equal(f.sha256, sha256_of(mf.folder .. "/" .. f.name))
      end
      local posts = 0
      for _, r in ipairs(m:log().requests) do
        if r.method == "POST" then posts = posts + 1 end
      end
      assert.equal(#mfs, posts)
    end)

    it("refuses userbase (no time range) before anything", function()
      local c = assert(batchexport.new({ rest_key = m.rest_key, api_key = m.api_key, base_url = m.api_url }))
      local summary, err = c.legacy.sync("userbase", { dir = new_dir(), ids = { "custom_id" } })
      assert.is_nil(summary)
      assert.equal("validation", err.kind)
    end)
  end)

  describe("examples/sync_cron.lua", function()
    it("lands, then has nothing to do (exit 0, then 6), quietly", function()
      local dir = new_dir()
      local now = math.floor(m:now())
      local lua = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))   -- the suite's own
      -- LUA_PATH and LUA_CPATH: the suite's own (build/ or build-jit/), from the environment.
      local cmd = ("env MOCK_API_URL=%s BATCH_REST_KEY=%s BATCH_PROJECT_KEY=%s SYNC_NOW=%d SYNC_INTERVAL=0.05 "
        .. "%s examples/sync_cron.lua %s 2>&1; echo \"exit=$?\""):format(
        sh_quote(m.api_url), sh_quote(m.rest_key), sh_quote(m.project_key), now, lua, sh_quote(dir))
      for _, want in ipairs({ 0, 6 }) do
        local p = assert(io.popen(cmd))
        local out = p:read("a")
        p:close()
        assert.equal(want, tonumber(out:match("exit=(%d+)%s*$")), out)
        assert.equal("", (out:gsub("exit=%d+%s*$", "")))
      end
      S.check_landing(m, dir .. "/events", S.stamp(now - 7 * 86400), S.stamp(now - 15 * 60))
    end)
  end)

end)
