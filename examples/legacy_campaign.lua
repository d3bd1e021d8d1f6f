-- Legacy 1.0, push campaigns: the events of one campaign over the last week,
-- tallied by type from the streamed CSV, then the ids export saved to disk.
--
--   BATCH_REST_KEY=... BATCH_API_KEY=... lua5.4 examples/legacy_campaign.lua [campaign-token] [out-dir] [interval]
--   (MOCK_API_URL, printed by bin/batchexport-mock start, points it at the mock)
-- Exit code: 0 done, 2 the export failed or expired, 1 any other error.
local batchexport = require("batchexport")

local token = arg[1] or os.getenv("BATCH_CAMPAIGN_TOKEN") or "mock_campaign_token"
local out_dir = arg[2] or "out"
local interval = tonumber(arg[3]) or 5

local client = batchexport.assert(batchexport.new({
  rest_key = os.getenv("BATCH_REST_KEY"),
  api_key = os.getenv("BATCH_API_KEY"),
  base_url = os.getenv("MOCK_API_URL") or "https://api.batch.com",
}))

local function fail(err)
  io.stderr:write("legacy_campaign: ", tostring(err), "\n")
  os.exit((err.kind == "export_failed" or err.kind == "expired") and 2 or 1)
end

local week_ago = os.date("!%Y-%m-%dT%H:%M:%S", os.time() - 7 * 86400)

-- Two exports of the same campaign: every event with its date, and who got
-- which event (no dates).
local events_id, err = client.legacy.create("campaign_events", {
  token = token, from = week_ago, to = "now",
  events = { "push_sent", "push_open", "push_error" },
  ids = { "install_id", "custom_id" },
})
if not events_id then fail(err) end
print("created campaign_events request " .. events_id)
local ids_id
ids_id, err = client.legacy.create("campaign_ids", {
  token = token, from = week_ago, to = "now", events = { "push_open" },
  ids = { "install_id", "custom_id", "advertising_id" },
})
if not ids_id then fail(err) end
print("created campaign_ids request " .. ids_id)

local status
status, err = client.legacy.wait_for(events_id, { interval = interval, timeout = 600 })
if not status then fail(err) end
print(string.format("%s: %s at %s", status.id, status.status, tostring(status.completion_date)))

-- Rows are tables keyed by the CSV header (install_id, custom_id, event_date, event_type).
local by_type, users, rows = {}, {}, 0
local ok, rerr = pcall(function()
  for row in client.legacy.rows(status) do
    rows = rows + 1
    by_type[row.event_type] = (by_type[row.event_type] or 0) + 1
    if row.custom_id ~= "" then users[row.custom_id] = true end
  end
end)
if not ok then fail(rerr) end
local n_users = 0
for _ in pairs(users) do n_users = n_users + 1 end
print(string.format("%d events, %d distinct custom ids", rows, n_users))
for _, t in ipairs({ "push_sent", "push_opened", "push_error" }) do
  print(string.format("  %-12s %d", t, by_type[t] or 0))
end

status, err = client.legacy.wait_for(ids_id, { interval = interval, timeout = 600 })
if not status then fail(err) end
local path
path, err = client.legacy.download(status, { path = out_dir .. "/campaign_" .. token .. "_ids.csv" })
if not path then fail(err) end
print("saved " .. path)
