-- A cron job: land the events since the last run in a folder, exactly once.
-- Quiet on success; exit 0 landed, 6 nothing to do, 7 another run holds the
-- lock, 8 the watermark is past the lookback, 1 anything else (one line on
-- stderr). Run it as often as you like: each run picks up where the last
-- one stopped, and a run killed at any moment is finished by the next.
--
--   BATCH_REST_KEY=... BATCH_PROJECT_KEY=... lua5.4 examples/sync_cron.lua /var/lib/batch
--   crontab:  5 * * * *  cd /opt/batchexport && lua5.4 examples/sync_cron.lua /var/lib/batch
--   (MOCK_API_URL, printed by bin/batchexport-mock start, points it at the mock;
--    SYNC_NOW=<unix seconds> makes the run treat that instant as now, as the specs do)
local batchexport = require("batchexport")

local dir = arg[1] or "landing"
local client = assert(batchexport.new({
  rest_key = os.getenv("BATCH_REST_KEY"),
  project_key = os.getenv("BATCH_PROJECT_KEY"),
  base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL"),   -- nil: https://api.batch.com
}))

local summary, err = client.exports.sync({
  dir = dir,
  events = { "email_open", "email_click" },
  since = "7d",          -- the first run only; later runs go on from the watermark
  lag = "15m",
  max_range = "1d",
  now = tonumber(os.getenv("SYNC_NOW") or ""),
  interval = tonumber(os.getenv("SYNC_INTERVAL") or "") or 5,
})
client:close()

if not summary then
  io.stderr:write(tostring(err), "\n")
  os.exit(err.locked and 7 or err.gap and 8 or 1)
end
if os.getenv("SYNC_VERBOSE") then
  for _, l in ipairs(summary.landed) do
    io.stderr:write(("landed %s: %d files, %d records\n"):format(l.folder, l.files, l.records))
  end
end
os.exit(summary.status == "landed" and 0 or 6)
