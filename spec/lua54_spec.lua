-- What only Lua 5.4 syntax can show: to-be-closed readers and clients.
-- (Kept apart so every other spec file also runs on LuaJIT.)
local batchexport = require("batchexport")
local mock = require("spec.support.mock")
local scheduler = require("batchexport.scheduler")

local m
setup(function() m = mock.start({ workers = 1 }) end)
teardown(function() if m then m:stop() end end)

describe("<close>", function()
  it("releases a reader and its transfer at the end of the block", function()
    local c = assert(batchexport.new({ rest_key = m.rest_key, project_key = m.project_key, base_url = m.api_url }))
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 2 * 1024 * 1024 })
    do
      local rd <close> = c.exports.open(e.files[1])
      assert.is_table(rd:records()())
      assert.equal(1, scheduler.loop:count())
    end
    assert.equal(0, scheduler.loop:count())
  end)

  it("closes a client and every transfer it has open", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 2 * 1024 * 1024 })
    local rd
    do
      local c <close> = assert(batchexport.new({ rest_key = m.rest_key, project_key = m.project_key,
        base_url = m.api_url }))
      rd = c.exports.open(e.files[1])
      assert.is_table(rd:records()())
      assert.equal(1, scheduler.loop:count())
    end
    assert.equal(0, scheduler.loop:count())
    local _, err = rd:read(10)
    assert.is_table(err)
  end)
end)
