-- `download` killed with SIGKILL at 20 random moments (no handler runs, no
-- cleanup): a final name never holds a partial file, and the next download
-- into the same folder succeeds and leaves only the final names.
-- The delays are random, from a seed printed at the start (BATCHEXPORT_KILL_SEED
-- replays a run).
local batchexport = require("batchexport")
local mock = require("spec.support.mock")
local h = require("spec.support.helpers")

local sh_quote = mock.sh_quote
local ROUNDS = 20

local sh, ls, sha256 = h.sh, h.ls, h.sha256

describe("hostile process death: download killed with SIGKILL", function()
  local m, tmp

  setup(function() m, tmp = mock.start({ workers = 1 }), h.tmpdir() end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)

  it("never leaves a partial file under a final name; the next download cleans up and succeeds", function()
    local e = m:create_export({ status = "SUCCESS", parts = 4, part_size = 24 * 1024 * 1024 })
    local want = {}                        -- final name -> sha256
    for _, f in ipairs(e.files) do want[string.format("%s-%d.json", e.id, f.part)] = m:file_sha256(f.id) end
    local dir = tmp .. "/out"
    assert(os.execute("mkdir -p " .. sh_quote(dir)))

    local script = tmp .. "/download.lua"
    local f = assert(io.open(script, "wb"))
    f:write(string.format([[
      local c = assert(require("batchexport").new({ rest_key = %q, project_key = %q, base_url = %q }))
      local paths, err = c.exports.download(%q, { dir = %q })
      if not paths then io.stderr:write(tostring(err), "\n") os.exit(1) end
    ]], m.rest_key, m.project_key, m.api_url, e.id, dir))
    f:close()
    local child = "env -u LD_PRELOAD LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/?.so;;' lua5.4 "
      .. sh_quote(script)

    -- How long a whole run takes here, so the kills land all along it.
    local started = mock.gettime()
    local out, code = sh(child)
    assert.equal(0, code, out)
    local span = math.max(0.05, mock.gettime() - started)

    local client = assert(batchexport.new({ rest_key = m.rest_key, project_key = m.project_key,
      base_url = m.api_url }))
    local seed = tonumber(os.getenv("BATCHEXPORT_KILL_SEED")) or os.time()
    print(string.format("\nkill_spec: seed %d (BATCHEXPORT_KILL_SEED=%d replays), a run takes %.2f s",
      seed, seed, span))
    math.randomseed(seed)
    local killed_mid_way = 0
    for round = 1, ROUNDS do
      local delay = math.random() * span * 1.1
      out = sh("cd " .. sh_quote(".") .. " && (" .. child .. " >/dev/null 2>&1 & pid=$!; sleep " ..
        string.format("%.3f", delay) .. "; kill -KILL $pid 2>/dev/null && echo killed; wait $pid)")
      if out:find("killed") then killed_mid_way = killed_mid_way + 1 end
      local temps = 0
      for _, name in ipairs(ls(dir)) do
        if name:sub(1, 1) == "." then
          assert.matches("^%." .. e.id .. "%-%d%.json%.%x+%.part$", name, "round " .. round)
          temps = temps + 1
        else
          assert.is_not_nil(want[name], "round " .. round .. ": unexpected " .. name)
          assert.equal(want[name], sha256(dir .. "/" .. name), "round " .. round .. ": partial " .. name)
        end
      end
      print(string.format("kill_spec: round %2d killed after %.3f s, %d temporary file(s) left", round, delay, temps))
      local paths, err = client.exports.download(e, { dir = dir })
      assert.is_table(paths, "round " .. round .. ": " .. tostring(err))
      local names = {}
      for name in pairs(want) do names[#names + 1] = name end
      table.sort(names)
      assert.same(names, ls(dir))
      for name, sum in pairs(want) do assert.equal(sum, sha256(dir .. "/" .. name)) end
    end
    -- At least a quarter must land mid-run, or the spec tested nothing (a
    -- loaded machine makes start-up times vary, so not more).
    assert.truthy(killed_mid_way >= ROUNDS / 4, killed_mid_way .. " of " .. ROUNDS .. " kills landed mid-run")
  end)
end)
