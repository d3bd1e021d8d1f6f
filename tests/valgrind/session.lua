-- Exercises every userdata of the core against the mock, including the paths
-- that abandon work half-way (cancelled tasks, readers closed mid-file, a
-- client closed with transfers open, errors), then lets Lua close the state.
-- Run under valgrind by scripts/valgrind.sh: any invalid access or definite
-- leak fails it.
local batchexport = require("batchexport")
local mock = require("spec.support.mock")
local scheduler = require("batchexport.scheduler")

local m = mock.start({ workers = 1 })
local ok, err = pcall(function()
  local c = assert(batchexport.new({ rest_key = m.rest_key, project_key = m.project_key, api_key = m.api_key,
    base_url = m.api_url, backoff_base = 0.01, backoff_max = 0.02, max_attempts = 2 }))
  local id = assert(c.exports.create({ export_type = "ATTRIBUTES", attributes = { "$language" } }))
  assert(c.exports.view(id))
  assert(not c.exports.view("export_missing"))
  local n = 0
  for _ in c.exports.list({ limit = 50 }) do n = n + 1 end
  assert(n > 100)

  local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 300000, gzip = true })
  local records = 0
  for _ in c.exports.records(e.id) do records = records + 1 end
  assert(records > 100)
  local dir = os.tmpname()
  os.remove(dir)
  assert(c.exports.download(e.id, { dir = dir, parallel = 2 }))
  os.execute("rm -rf " .. mock.sh_quote(dir))

  -- values through the records index a plain stream's pump makes (a part
  -- bigger than the ring), and a reader dropped with its index in use
  local plain = m:create_export({ status = "SUCCESS", parts = 1, part_size = 3000000 })
  local valued = 0
  for i in c.exports.values(plain.id, { "custom_id", "$email_address" }) do valued = i end
  assert(valued > 1000)
  local vr = c.exports.open(plain.files[1])
  local step = vr:values({ "custom_id" })
  for _ = 1, 5000 do assert(step()) end
  vr, step = nil, nil
  collectgarbage()

  -- a reader dropped half-way, and one closed half-way
  local rd = c.exports.open(e.files[1])
  assert(rd:lines()())
  rd = nil
  collectgarbage()
  rd = c.exports.open(e.files[2])
  assert(rd:read(100))
  rd:close()

  -- a task cancelled while its transfer stalls
  m:fault({ path = "/2.11/exports/view", stall = 5 })
  local task = scheduler.spawn(function() return c.exports.view(id) end)
  scheduler.step(0.2)
  task:cancel()
  assert(scheduler.loop:count() == 0)

  -- a client closed with a transfer open
  local c2 = assert(batchexport.new({ rest_key = m.rest_key, project_key = m.project_key, base_url = m.api_url }))
  local rd2 = c2.exports.open(e.files[1])
  assert(rd2:read(10))
  c2:close()
  assert(scheduler.loop:count() == 0)

  -- legacy: create, rows, download
  local lid = assert(c.legacy.create("userbase", { ids = { "install_id", "custom_id" } }))
  assert(c.legacy.status(lid))
  local lr = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 500 })
  local rows = 0
  for _ in c.legacy.rows(lr.id) do rows = rows + 1 end
  assert(rows == 500, rows)
end)
m:stop()
collectgarbage()
if not ok then
  io.stderr:write("session failed: ", tostring(err), "\n")
  os.exit(1)
end
print("valgrind session: ok")
