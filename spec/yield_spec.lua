-- Waits inside a task where the running Lua cannot yield. PUC Lua 5.1 cannot
-- yield across a C call: a `for` loop's iterator, pcall, a metamethod. There
-- a wait must block instead (the task still ends with its result) rather
-- than raise "attempt to yield across metamethod/C-call boundary". On 5.2+
-- and LuaJIT the same code yields; these specs pass on every Lua.
local mock = require("spec.support.mock")
local batchexport = require("batchexport")

describe("a wait inside a task where Lua cannot yield", function()
  local m, client

  setup(function()
    m = mock.start({ workers = 1, speed = 50 })
    client = assert(batchexport.new({
      base_url = m.api_url, rest_key = m.rest_key, project_key = m.project_key, api_key = m.api_key,
    }))
  end)
  teardown(function()
    if client then client:close() end
    if m then m:stop() end
  end)

  local function finished_export()
    m:plan({ parts = 2, part_size = 20000 })
    local id = assert(client.exports.create({ export_type = "ATTRIBUTES", attributes = { "$language" } }))
    return assert(client.exports.wait_for(id, { interval = 0.2, max_interval = 0.5, timeout = 60 }))
  end

  it("reads a for loop's records in a task, beside another task", function()
    local export = finished_export()
    local ticks = 0
    local ticker = batchexport.spawn(function()
      for _ = 1, 10 do ticks = ticks + 1; batchexport.sleep(0.01) end
    end)
    local reader = batchexport.spawn(function()
      local n = 0
      for _ in client.exports.records(export) do n = n + 1 end
      return n
    end)
    batchexport.run()
    local ok, n = reader:result()
    assert.is_true(ok, tostring(n))
    assert.is_true(n > 0)
    assert.is_true(ticker:result())
    assert.equal(10, ticks)
  end)

  it("waits inside pcall in a task, and the call's error is still the error object", function()
    local export = finished_export()
    local task = batchexport.spawn(function()
      local ok, view = pcall(function() return assert(client.exports.view(export.id)) end)
      local _, err = pcall(function() return batchexport.assert(client.exports.view("export_missing")) end)
      return ok and view.id, err
    end)
    batchexport.run()
    local ok, id, err = task:result()
    assert.is_true(ok, tostring(id))
    assert.equal(export.id, id)
    assert.is_true(batchexport.is_error(err, "api"), tostring(err))
    assert.equal(404, err.status)
  end)

  it("waits inside a metamethod in a task", function()
    local export = finished_export()
    local lazy = setmetatable({}, { __index = function(_, id) return assert(client.exports.view(id)).status end })
    local task = batchexport.spawn(function() return lazy[export.id] end)
    batchexport.run()
    local ok, status = task:result()
    assert.is_true(ok, tostring(status))
    assert.equal("SUCCESS", status)
  end)
end)
