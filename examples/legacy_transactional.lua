-- Legacy 1.0, transactional pushes: the events of one group id, tallied per
-- transactional token (one token per API call that sent pushes), rows read as
-- plain arrays (header = false) to show the raw columns.
--
--   BATCH_REST_KEY=... BATCH_API_KEY=... lua5.4 examples/legacy_transactional.lua [group-id] [out-dir] [interval]
--   (MOCK_API_URL, printed by bin/batchexport-mock start, points it at the mock)
-- Exit code: 0 done, 2 the export failed or expired, 1 any other error.
local batchexport = require("batchexport")

local group = arg[1] or os.getenv("BATCH_GROUP_ID") or "welcome_emails"
local out_dir = arg[2] or "out"
local interval = tonumber(arg[3]) or 5

local client = batchexport.assert(batchexport.new({
  rest_key = os.getenv("BATCH_REST_KEY"),
  api_key = os.getenv("BATCH_API_KEY"),
  base_url = os.getenv("MOCK_API_URL") or "https://api.batch.com",
}))

local function fail(err)
  io.stderr:write("legacy_transactional: ", tostring(err), "\n")
  os.exit((err.kind == "export_failed" or err.kind == "expired") and 2 or 1)
end

local id, err = client.legacy.create("transactional_events", {
  token = group,
  from = os.date("!%Y-%m-%dT%H:%M:%S", os.time() - 3 * 86400),
  to = "now",
  events = { "push_sent", "push_open" },
  ids = { "install_id" },
})
if not id then
  if err.conflict then print("the same export is already running: " .. err.message) end
  fail(err)
end
print("created transactional_events request " .. id)

local status
status, err = client.legacy.wait_for(id, { interval = interval, timeout = 600 })
if not status then fail(err) end
print(string.format("%s: %s", status.id, status.status))

local header, tokens, rows = nil, {}, 0
local ok, rerr = pcall(function()
  for fields in client.legacy.rows(status, { header = false }) do
    if not header then
      header = fields
    else
      rows = rows + 1
      local t = fields[#fields]                     -- transactional_token, the last column
      tokens[t] = tokens[t] or { push_sent = 0, push_opened = 0 }
      local kind = fields[#fields - 1]               -- event_type
      tokens[t][kind] = (tokens[t][kind] or 0) + 1
    end
  end
end)
if not ok then fail(rerr) end
print("columns: " .. table.concat(header or {}, ", "))
local n = 0
for _ in pairs(tokens) do n = n + 1 end
print(string.format("%d events over %d transactional tokens", rows, n))

local path
path, err = client.legacy.download(status, { path = out_dir .. "/transactional_" .. group .. ".csv" })
if not path then fail(err) end
print("saved " .. path)
