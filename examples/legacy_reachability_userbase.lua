-- Legacy 1.0, reachability and userbase: both exports waited for side by
-- side under the module's scheduler (two tasks), then an opt-in summary of
-- the userbase snapshot and the reachability changes of the last 90 days.
--
--   BATCH_REST_KEY=... BATCH_API_KEY=... lua5.4 examples/legacy_reachability_userbase.lua [out-dir] [interval]
--   (MOCK_API_URL, printed by bin/batchexport-mock start, points it at the mock)
-- Exit code: 0 done, 2 an export failed or expired, 1 any other error.
local batchexport = require("batchexport")

local out_dir = arg[1] or "out"
local interval = tonumber(arg[2]) or 5

local client = batchexport.assert(batchexport.new({
  rest_key = os.getenv("BATCH_REST_KEY"),
  api_key = os.getenv("BATCH_API_KEY"),
  base_url = os.getenv("MOCK_API_URL") or "https://api.batch.com",
}))

local function fail(err)
  io.stderr:write("legacy_reachability_userbase: ", tostring(err), "\n")
  os.exit((err.kind == "export_failed" or err.kind == "expired") and 2 or 1)
end

-- Reachability takes from, to and ids; userbase (a snapshot) takes ids alone.
local reach_id, err = client.legacy.create("reachability", {
  from = os.date("!%Y-%m-%dT%H:%M:%S", os.time() - 89 * 86400), to = "now",
  ids = { "install_id", "custom_id" },
})
if not reach_id then fail(err) end
local base_id
base_id, err = client.legacy.create("userbase", { ids = { "install_id", "custom_id", "advertising_id" } })
if not base_id then fail(err) end
print("created reachability request " .. reach_id)
print("created userbase request " .. base_id)

-- Each task waits, then reads its CSV; both run side by side.
local summary = {}
local function job(name, id, read)
  return batchexport.spawn(function()
    local status = batchexport.assert(client.legacy.wait_for(id, { interval = interval, timeout = 600 }))
    summary[name] = read(status)
    return status
  end)
end

local reach = job("reachability", reach_id, function(status)
  local t = { events = 0, optin = 0, reachable = 0 }
  for row in client.legacy.rows(status) do
    t.events = t.events + 1
    if row.is_optin == "true" then t.optin = t.optin + 1 end
    if row.is_reachable == "true" then t.reachable = t.reachable + 1 end
  end
  return t
end)

local base = job("userbase", base_id, function(status)
  local t = { installs = 0, optin = 0, segments = {} }
  -- A row may carry more values than the header names: the extra ones are
  -- kept at their positions (row[8], ...), the named ones are unchanged.
  for row in client.legacy.rows(status) do
    t.installs = t.installs + 1
    if row.is_optin_push == "true" then t.optin = t.optin + 1 end
    local seg = row.smart_segment or "?"
    t.segments[seg] = (t.segments[seg] or 0) + 1
  end
  return t
end)

batchexport.run()
for _, task in ipairs({ reach, base }) do
  local ok, value = task:result()
  if not ok then fail(value) end
end

local r, u = summary.reachability, summary.userbase
print(string.format("reachability: %d changes, %d opted in, %d reachable", r.events, r.optin, r.reachable))
print(string.format("userbase: %d installs, %d opted in to push", u.installs, u.optin))
local segs = {}
for k in pairs(u.segments) do segs[#segs + 1] = k end
table.sort(segs)
for _, k in ipairs(segs) do print(string.format("  %-10s %d", k, u.segments[k])) end

local _, status = base:result()
local path
path, err = client.legacy.download(status, { path = out_dir .. "/userbase.csv" })
if not path then fail(err) end
print("saved " .. path)
