-- Plain automation: create an events export, wait for it, and aggregate its
-- records as they stream in (memory stays flat however large the export):
-- events per kind, per day and per platform, distinct users, time span.
--
--   eval "$(bin/batchexport-mock start)"       # or real keys in BATCH_*
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/?.so;;" \
--     lua5.4 examples/aggregate.lua [days=7] [poll_interval=5]
--
-- Exit status: 0 done, 1 an error (printed), 3 the export failed.
local batchexport = require("batchexport")

local days = tonumber(arg[1]) or 7
local interval = tonumber(arg[2]) or 5

local client = batchexport.assert(batchexport.new({
  base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL"),
  rest_key = os.getenv("BATCH_REST_KEY"),
  project_key = os.getenv("BATCH_PROJECT_KEY"),
}))

local function fail(err)
  io.stderr:write(tostring(err), "\n")
  os.exit(err.kind == "export_failed" and 3 or 1)
end

local id, err = client.exports.create({
  export_type = "EVENTS",
  from = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - days * 86400),
  to = "now",
  events = { "email_sent", "email_open", "email_click", "push_sent", "push_open" },
})
if not id then fail(err) end
print("created " .. id)

local export
export, err = client.exports.wait_for(id, { interval = interval, timeout = 3600 })
if not export then fail(err) end
print(string.format("%s is %s: %d file(s)", id, export.status, #export.files))

local total, users, per_event, per_day, per_platform = 0, {}, {}, {}, {}
local distinct, first, last = 0, nil, nil
local function bump(t, k) t[k] = (t[k] or 0) + 1 end

local ok, why = pcall(function()
  for record in client.exports.records(export) do
    total = total + 1
    bump(per_event, record.event or "?")
    if record.platform then bump(per_platform, record.platform) end
    local ts = record.timestamp
    if type(ts) == "string" then
      bump(per_day, ts:sub(1, 10))
      if not first or ts < first then first = ts end
      if not last or ts > last then last = ts end
    end
    local user = record.custom_id
    if user and not users[user] then users[user], distinct = true, distinct + 1 end
  end
end)
if not ok then fail(why) end                 -- iterators raise the error object itself

local function show(title, t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return t[a] > t[b] or (t[a] == t[b] and a < b) end)
  print(title)
  for _, k in ipairs(keys) do print(string.format("  %-14s %8d", k, t[k])) end
end

print(string.format("%d events from %d users, %s .. %s", total, distinct, first or "-", last or "-"))
show("by event:", per_event)
show("by platform:", per_platform)
local days_sorted = {}
for d in pairs(per_day) do days_sorted[#days_sorted + 1] = d end
table.sort(days_sorted)
print("by day:")
for _, d in ipairs(days_sorted) do print(string.format("  %-14s %8d", d, per_day[d])) end
