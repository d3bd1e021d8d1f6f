-- Legacy 1.0, in-app campaigns: which call-to-action buttons were clicked.
-- Shown, closed and clicked events share one CSV; `cta` and `cta_position`
-- are empty fields ("") except on clicks.
--
--   BATCH_REST_KEY=... BATCH_API_KEY=... lua5.4 examples/legacy_inapp.lua [campaign-token] [out-dir] [interval]
--   (MOCK_API_URL, printed by bin/batchexport-mock start, points it at the mock)
-- Exit code: 0 done, 2 the export failed or expired, 1 any other error.
local batchexport = require("batchexport")

local token = arg[1] or os.getenv("BATCH_INAPP_TOKEN") or "mock_inapp_token"
local out_dir = arg[2] or "out"
local interval = tonumber(arg[3]) or 5

local client = batchexport.assert(batchexport.new({
  rest_key = os.getenv("BATCH_REST_KEY"),
  api_key = os.getenv("BATCH_API_KEY"),
  base_url = os.getenv("MOCK_API_URL") or "https://api.batch.com",
}))

local function fail(err)
  io.stderr:write("legacy_inapp: ", tostring(err), "\n")
  os.exit((err.kind == "export_failed" or err.kind == "expired") and 2 or 1)
end

local id, err = client.legacy.create("inapp_events", {
  token = token,
  from = os.date("!%Y-%m-%dT%H:%M:%S", os.time() - 30 * 86400),
  to = "now",
  events = { "inapp_shown", "inapp_clicked", "inapp_closed" },
  ids = { "install_id", "custom_id" },
})
if not id then fail(err) end
print("created inapp_events request " .. id)

local status
status, err = client.legacy.wait_for(id, { interval = interval, timeout = 600 })
if not status then fail(err) end
print(string.format("%s: %s", status.id, status.status))

local shown, clicks, ctas = 0, 0, {}
local ok, rerr = pcall(function()
  for row in client.legacy.rows(status) do
    if row.event_type == "inapp_shown" then
      shown = shown + 1
    elseif row.event_type == "inapp_clicked" then
      clicks = clicks + 1
      local key = row.cta ~= "" and (row.cta .. " #" .. row.cta_position) or "(no cta)"
      ctas[key] = (ctas[key] or 0) + 1
    end
  end
end)
if not ok then fail(rerr) end
print(string.format("%d shown, %d clicked", shown, clicks))
local names = {}
for k in pairs(ctas) do names[#names + 1] = k end
table.sort(names)
for _, k in ipairs(names) do print(string.format("  %-24s %d", k, ctas[k])) end

-- The same file as it is, for a spreadsheet: written to a temporary file,
-- synced, then renamed.
local path
path, err = client.legacy.download(status, { path = out_dir .. "/inapp_" .. token .. ".csv" })
if not path then fail(err) end
print("saved " .. path)
