--- examples/wait_script.lua: a plain script. Every call blocks until it is
-- done; nothing here knows about tasks or event loops.
--
--   eval "$(bin/batchexport-mock start)"        # or real keys in BATCH_*
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/?.so;;" \
--     lua5.4 examples/wait_script.lua [interval_seconds]
local batchexport = require("batchexport")

local interval = tonumber(arg[1]) or 5

local client = batchexport.assert(batchexport.new({
  base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL"),
  rest_key = os.getenv("BATCH_REST_KEY"),
  project_key = os.getenv("BATCH_PROJECT_KEY"),
}))

local id, err = client.exports.create({
  export_type = "ATTRIBUTES",
  attributes = { "$email_address", "$language" },
  identifiers = { "custom_id" },
})
if not id then
  io.stderr:write("create failed: ", tostring(err), "\n")
  os.exit(1)
end
print("created " .. id)

-- Blocks: checks the export after 0, ~interval, ~1.5 x interval... seconds
-- (growing to max_interval), gives up after an hour.
local export
export, err = client.exports.wait_for(id, {
  interval = interval, max_interval = 12 * interval, timeout = 3600,
  progress = function(e) print("  " .. e.status) end,
})
if not export then
  -- err.kind: "export_failed" (err.export is the export), "timeout", "api"...
  io.stderr:write("wait failed: ", tostring(err), "\n")
  os.exit(err.kind == "timeout" and 3 or 2)
end
print(string.format("%s %s: %d file(s)", export.id, export.status, #export.files))
for _, f in ipairs(export.files) do
  print(string.format("  part %d: %d bytes", f.part, f.size))
end
