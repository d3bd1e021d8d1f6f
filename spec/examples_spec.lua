-- examples/quickstart.lua, aggregate.lua and list_resume.lua run as their own
-- processes against a mock, with the environment `bin/batchexport-mock start`
-- prints. (game_loop.lua and the waiting examples: spec/examples_wait_spec.lua;
-- examples/openresty/: spec/openresty_spec.lua.)
local mock = require("spec.support.mock")
local cli = require("spec.support.cli")
local h = require("spec.support.helpers")


describe("examples", function()
  local m, tmp

  local function run(script, args) return cli.example(m, script, args) end

  setup(function() m, tmp = mock.start({ workers = 1, speed = 50 }), h.tmpdir() end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)
  before_each(function() m:reset() end)

  it("quickstart.lua creates, waits, walks the records and saves the files", function()
    m:plan({ parts = 2, part_size = 30000 })
    local code, out = run("quickstart.lua", { tmp .. "/qs" })
    assert.equal(0, code, cli.said(code, out))
    assert.matches("created export_%w+", out)
    assert.matches("export_%w+: SUCCESS, 2 file%(s%)", out)
    local records = tonumber(out:match("(%d+) records"))
    assert.truthy(records and records > 0, out)
    local saved = 0
    for path in out:gmatch("saved (%S+)") do
      saved = saved + 1
      assert.truthy(io.open(path, "rb"), path)
    end
    assert.equal(2, saved)
  end)

  it("aggregate.lua streams an events export and prints totals that add up", function()
    m:plan({ parts = 2, part_size = 40000 })
    local code, out = run("aggregate.lua", { "7", "0.2" })
    assert.equal(0, code, cli.said(code, out))
    local total = tonumber(out:match("(%d+) events from %d+ users"))
    assert.truthy(total and total > 0, out)
    local by_event = out:match("by event:\n(.-)\nby platform:")
    local sum = 0
    for n in by_event:gmatch("%s(%d+)\n?") do sum = sum + tonumber(n) end
    assert.equal(total, sum)
    local by_day = out:match("by day:\n(.*)$")
    sum = 0
    for n in by_day:gmatch("%s(%d+)\n") do sum = sum + tonumber(n) end
    assert.equal(total, sum)
  end)

  it("aggregate.lua exits 3 when the export fails", function()
    m:plan({ outcome = "ERROR", duration = 2 })
    local code, out = run("aggregate.lua", { "7", "0.2" })
    assert.equal(3, code, cli.said(code, out))
    assert.matches("export_failed", out)
  end)

  it("list_resume.lua saves its cursor, stops, and resumes where it stopped", function()
    local state = tmp .. "/cursor.state"
    local code, out = run("list_resume.lua", { state, "2", "50" })
    assert.equal(75, code, cli.said(code, out))
    assert.matches("starting from the newest", out)
    local f = assert(io.open(state, "r"))
    local saved = f:read("*a")
    f:close()
    local cursor = saved:match("cursor (%S+)")
    assert.truthy(cursor, saved)
    assert.matches("seen 100", saved)

    m:clear_log()
    code, out = run("list_resume.lua", { state })
    assert.equal(0, code, cli.said(code, out))
    assert.truthy(out:find("from cursor " .. cursor, 1, true), out)
    assert.matches("page 3: 50", out)
    assert.matches("done: 260 export%(s%) in 6 page%(s%)", out)   -- every seeded export, once
    assert.is_nil(io.open(state, "r"))
    -- the second run started at the saved cursor, not at the first page
    local first = m:log().requests[1]
    assert.equal("/2.11/exports/list", first.path)
    assert.truthy(first.query:find(mock.urlencode(cursor), 1, true), first.query)
  end)
end)
