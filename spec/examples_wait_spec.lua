-- The waiting examples run as their own processes against a mock, with the
-- environment `bin/batchexport-mock start` prints: their exit codes and what
-- they print. (examples/openresty/ is run by spec/openresty_spec.lua.)
local mock = require("spec.support.mock")
local cli = require("spec.support.cli")
local h = require("spec.support.helpers")



-- Runs an example; returns its exit code and everything it printed.
local run = cli.example

describe("waiting examples", function()
  local m

  setup(function()
    -- A fast lifecycle: an export is done about 2 s after it is created.
    m = mock.start({ created = 0.2, pending = 0.3, running = 1.5 })
  end)
  teardown(function() if m then m:stop() end end)
  before_each(function() m:reset() end)

  it("wait_script.lua blocks until the export is done and lists its files", function()
    local code, out = run(m, "wait_script.lua", { "0.2" })
    assert.equal(0, code, cli.said(code, out))
    assert.matches("created export_", out)
    assert.matches("RUNNING", out)
    assert.matches("export_%w+ SUCCESS: 1 file%(s%)", out)
    assert.matches("part 1: %d+ bytes", out)
  end)

  it("wait_script.lua exits 2 with export_failed when the export fails", function()
    m:plan({ duration = 0.5, outcome = "ERROR" })
    local code, out = run(m, "wait_script.lua", { "0.2" })
    assert.equal(2, code, cli.said(code, out))
    assert.matches("wait failed: batchexport: export_failed", out)
  end)

  it("tasks.lua waits for many exports at once", function()
    for i = 1, 8 do m:plan({ duration = 0.5 + 0.25 * i }) end   -- the slowest takes 2.5 s
    local code, out = run(m, "tasks.lua", { "8", "0.1" })
    assert.equal(0, code, cli.said(code, out))
    local n = 0
    for _ in out:gmatch("task +%d+: export_%w+ SUCCESS") do n = n + 1 end
    assert.equal(8, n, out)
    local wall, serial = out:match("8 exports in ([%d.]+) s of wall time %(([%d.]+) s if waited one after another%), 0 failed")
    wall, serial = tonumber(wall), tonumber(serial)
    assert.truthy(wall, out)
    assert.is_true(wall < 2.5 + 1.5, out)
    assert.is_true(serial > 2 * wall, out)
  end)

  it("tasks.lua reports a failed task and exits 1, the others unharmed", function()
    m:plan({ duration = 0.3 })
    m:plan({ duration = 0.3, outcome = "ERROR" })
    m:plan({ duration = 0.3 })
    local code, out = run(m, "tasks.lua", { "3", "0.1" })
    assert.equal(1, code, cli.said(code, out))
    assert.matches("failed: batchexport: export_failed", out)
    assert.matches("3 exports in [%d.]+ s of wall time .* 1 failed", out)
    local n = 0
    for _ in out:gmatch("SUCCESS after") do n = n + 1 end
    assert.equal(2, n)
  end)

  -- PUC Lua 5.1 cannot yield through the download's pcall: there the game
  -- loop's frames stop while a part is saved (README, supported versions).
  local frames_go_on = (_VERSION == "Lua 5.1" and not rawget(_G, "jit")) and pending or it
  frames_go_on("game_loop.lua keeps its frame rate while the export runs and downloads", function()
    -- The download's response stalls 1 s after its headers: the frames go on.
    m:fault({ host = "storage", path = "/", stall = 1 })
    local dir = os.tmpname()
    os.remove(dir)
    local code, out = run(m, "game_loop.lua", { dir, "0.2" })
    h.rmrf(dir)
    assert.equal(0, code, cli.said(code, out))
    assert.matches("export RUNNING", out)
    assert.matches("downloading", out)
    assert.matches("wrote " .. dir:gsub("%p", "%%%0") .. "/export_%w+%-1%.json", out)
    local frames, secs = out:match("(%d+) frames in ([%d.]+) s: [%d.]+ fps")
    frames, secs = tonumber(frames), tonumber(secs)
    assert.truthy(frames, out)
    assert.is_true(secs >= 3, out)           -- ~2 s of export plus the 1 s stalled download
    -- No step(0) waited out the 1 s stall: each returned before the data came.
    -- (The frame rate, target 30: bench/RESULTS.md, "frame loop".)
    local worst = tonumber(out:match("slowest step%(0%) ([%d.]+) ms"))
    assert.is_true(worst < 1000, out)
  end)
end)
