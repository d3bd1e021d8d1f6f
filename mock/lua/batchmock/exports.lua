-- v2 export model: records, the CREATED -> PENDING -> RUNNING -> SUCCESS|ERROR
-- lifecycle (computed from the mock clock when read, so speeding the clock up
-- needs no background job), file parts, and the seeded history.
local json = require("batchmock.json")
local util = require("batchmock.util")
local clock = require("batchmock.clock")
local state = require("batchmock.state")
local generator = require("batchmock.generator")

local M = {}

local DEFAULT_PART_SIZE = 32768
local MAX_PARTS = 1000

-- Normalise a scenario ("plan"); returns plan or nil, message.
function M.normalize_plan(p)
  p = p or {}
  local plan = {
    parts = p.parts or 1,
    part_size = p.part_size or DEFAULT_PART_SIZE,
    format = p.format or "ndjson",
    gzip = p.gzip or false,
    outcome = p.outcome or "SUCCESS",
    duration = p.duration,
    empty = p.empty or false,
  }
  if type(plan.parts) ~= "number" or plan.parts < 1 or plan.parts > MAX_PARTS or plan.parts % 1 ~= 0 then
    return nil, "parts must be an integer in 1.." .. MAX_PARTS
  end
  if type(plan.part_size) ~= "number" or plan.part_size < 64 or plan.part_size % 1 ~= 0 then
    return nil, "part_size must be an integer number of bytes >= 64"
  end
  if plan.format ~= "ndjson" and plan.format ~= "array" then return nil, "format must be ndjson or array" end
  if type(plan.gzip) ~= "boolean" then return nil, "gzip must be a boolean" end
  if type(plan.empty) ~= "boolean" then return nil, "empty must be a boolean" end
  if plan.outcome ~= "SUCCESS" and plan.outcome ~= "ERROR" then return nil, "outcome must be SUCCESS or ERROR" end
  if plan.duration ~= nil and (type(plan.duration) ~= "number" or plan.duration < 0) then
    return nil, "duration must be a non-negative number of mock seconds"
  end
  return plan
end

-- Durations of each phase, in mock seconds: the configured ones, or a plan's
-- total split in the same proportions.
local function durations(plan)
  local cfg = state.cfg()
  local c, p, r = cfg.created, cfg.pending, cfg.running
  if plan.duration then
    local total = c + p + r
    if total <= 0 then c, p, r = 0, 0, plan.duration
    else
      c, p, r = plan.duration * c / total, plan.duration * p / total, plan.duration * r / total
    end
  end
  return { c, p, r }
end

local function ext(format, gzip)
  return (format == "array" and ".json" or ".ndjson") .. (gzip and ".gz" or "")
end

local function index(rec)
  local n = state.incr("x:seq")
  state.dict:set("x:i:" .. n, string.format("%.3f|%d|%s", rec.created, n, rec.id))
end

-- Create and store an export. opts: scope, request_text, request (table),
-- plan (normalised), created (mock ts), frozen (status or nil), dates, lazy.
function M.create(opts)
  local cfg = state.cfg()
  local plan = opts.plan
  local n = state.incr("x:created")
  local id = opts.id or util.id("export_", cfg.seed, state.epoch(), n)
  local rec = {
    id = id,
    scope = opts.scope,
    request_text = opts.request_text,
    created = opts.created or clock.now(),
    d = durations(plan),
    outcome = plan.outcome,
    frozen = opts.frozen,
    dates = opts.dates,
    lazy = opts.lazy or false,
    files = {},
  }
  local with_files = (opts.frozen == nil and plan.outcome == "SUCCESS") or opts.frozen == "SUCCESS"
  if with_files and not plan.empty then
    for part = 1, plan.parts do
      -- contents depend on the seed, the request, the plan and the creation
      -- second (relative dates such as `"to": "now"` resolve against it)
      local key = util.hash(cfg.seed, opts.scope, opts.request_text, plan.format, plan.gzip,
        plan.part_size, part, plan.parts, math.floor(rec.created))
      local spec = {
        id = util.id("file_", id, part),
        kind = "v2",
        owner = id,
        part = part,
        parts = plan.parts,
        key = key,
        format = plan.format,
        gzip = plan.gzip,
        part_size = plan.part_size,
        scope = opts.scope,
        request = opts.request,
        created = math.floor(rec.created),
        first_index = (part - 1) * 1000000 + 1,
        diskname = key .. ext(plan.format, plan.gzip),
      }
      state.put("f:" .. spec.id, spec)
      rec.files[part] = spec.id
    end
  end
  state.put("x:" .. id, rec)
  index(rec)
  return rec
end

function M.get(id)
  return state.get("x:" .. id)
end

function M.file(id)
  return state.get("f:" .. id)
end

local function files_ready(rec)
  for _, fid in ipairs(rec.files) do
    local spec = M.file(fid)
    if not spec or not generator.ready(spec) then return false end
  end
  return true
end

-- status, start ts, completion ts
function M.status(rec, now)
  if rec.frozen then
    local d = rec.dates or {}
    return rec.frozen, d.start, d.completion
  end
  now = now or clock.now()
  local t = now - rec.created
  local c, p, r = rec.d[1], rec.d[2], rec.d[3]
  local start = rec.created + c + p
  local done = start + r
  if t < c then return "CREATED" end
  if t < c + p then return "PENDING" end
  if t < c + p + r then return "RUNNING", start end
  if rec.outcome == "SUCCESS" and not rec.lazy and not files_ready(rec) then
    return "RUNNING", start -- the parts are still being written
  end
  return rec.outcome, start, done
end

function M.file_size(spec)
  if not spec.gzip then return spec.part_size end
  local meta = generator.meta(spec) or generator.ensure(spec)
  return meta and meta.size
end

function M.download_url(version, file_id)
  return state.cfg().api_url .. "/" .. version .. "/exports/download?id=" .. file_id
end

local ORDER = { "id", "request_date", "scope", "status", "request", "completion_date", "start_date", "files" }
local FILE_ORDER = { "id", "part", "size", "url" }

function M.render(rec, version, now)
  local status, start, done = M.status(rec, now)
  local files = json.array()
  if status == "SUCCESS" then
    for _, fid in ipairs(rec.files) do
      local spec = M.file(fid)
      files[#files + 1] = json.object({
        id = spec.id, part = spec.part, size = M.file_size(spec), url = M.download_url(version, spec.id),
      }, FILE_ORDER)
    end
  end
  local d = rec.dates or {}
  return json.object({
    id = rec.id,
    request_date = clock.rfc3339(d.request or rec.created),
    scope = rec.scope,
    status = status,
    request = json.raw(rec.request_text),
    completion_date = done and clock.rfc3339(done) or nil,
    start_date = start and clock.rfc3339(start) or nil,
    files = files,
  }, ORDER)
end

-- All indexed exports, newest first: {created, seq, id}
function M.sorted_index()
  local n = state.dict:get("x:seq") or 0
  local items = {}
  for i = 1, n do
    local raw = state.dict:get("x:i:" .. i)
    if raw then
      local ts, seq, id = raw:match("^([^|]+)|(%d+)|(.+)$")
      items[#items + 1] = { tonumber(ts), tonumber(seq), id }
    end
  end
  table.sort(items, function(a, b)
    if a[1] ~= b[1] then return a[1] > b[1] end
    return a[2] > b[2]
  end)
  return items
end

-- History ------------------------------------------------------------------

local NATIVE = { "$creation_date", "$email_address", "$email_marketing", "$language", "$last_activity",
  "$last_email_marketing_click", "$last_email_marketing_open", "$last_email_transactional_click",
  "$last_email_transactional_open", "$last_visit_date", "$phone_number", "$region", "$sms_marketing",
  "$timezone", "$push_subscriptions", "$install_date", "$email_open_tracking_consent", "$topic_preferences" }
M.NATIVE = NATIVE
local CUSTOM = { "firstname", "is_premium", "loyalty_points", "last_purchase_date", "interests", "nickname" }
local EVENTS = { "email_bounced", "email_click", "email_delivered", "email_open", "email_sent",
  "email_spam_complaint", "email_unsubscribed", "sms_sent", "sms_bounced", "sms_delivered",
  "sms_unsubscribed", "push_sent", "push_bounced", "push_open" }
M.EVENTS = EVENTS

local function pick_some(rng, list, min, max)
  local out, used = json.array(), {}
  local n = rng:int(min, max)
  for _ = 1, n * 3 do
    if #out >= n then break end
    local v = rng:pick(list)
    if not used[v] then used[v] = true; out[#out + 1] = v end
  end
  return out
end

local function history_request(rng, scope, created)
  if scope == "PROFILE_ATTRIBUTES" then
    local attrs = pick_some(rng, NATIVE, 1, 6)
    for _, c in ipairs(pick_some(rng, CUSTOM, 0, 2)) do attrs[#attrs + 1] = c end
    local ids = rng:chance(0.5) and json.array({ "custom_id", "installation_ids" }) or json.array({ "custom_id" })
    local req = json.object({ export_type = "ATTRIBUTES", attributes = attrs, identifiers = ids },
      { "export_type", "attributes", "identifiers", "filter" })
    if rng:chance(0.2) then req.filter = json.object({ segment = "SEGMENT-" .. rng:int(1, 9) }) end
    return req
  end
  local req = json.object({
    export_type = "EVENTS",
    from = clock.rfc3339(created - rng:int(1, 60) * 86400),
    to = rng:chance(0.5) and "now" or clock.rfc3339(created - rng:int(0, 3600)),
    events = pick_some(rng, EVENTS, 1, 4),
    identifiers = json.array({ "custom_id" }),
  }, { "export_type", "from", "to", "events", "identifiers", "orchestration_ids" })
  if rng:chance(0.3) then req.orchestration_ids = json.array({ "orch_" .. rng:alnum(16) }) end
  return req
end

-- Deterministic from the seed: ids, requests, statuses and file parts. The
-- dates hang off the instance's start so the list stays "the last months".
function M.seed_history()
  local cfg = state.cfg()
  local n = cfg.history
  local now = clock.now()
  local span = 100 * 86400
  -- oldest first so the index sequence follows time
  for i = n, 1, -1 do
    local rng = util.rng(cfg.seed, "history", i)
    local created = now - 600 - (i - 1) * (span / math.max(n, 1)) - rng:int(0, 3000)
    local scope = rng:chance(0.55) and "PROFILE_ATTRIBUTES" or "PROFILE_EVENTS"
    local status
    if i % 40 == 1 then status = "CREATED"
    elseif i % 40 == 2 then status = "PENDING"
    elseif i % 40 == 3 then status = "RUNNING"
    elseif i % 9 == 4 then status = "ERROR"
    else status = "SUCCESS" end
    local gz = rng:chance(0.2)
    local plan = M.normalize_plan({
      parts = rng:chance(0.8) and 1 or rng:int(2, 3),
      part_size = gz and rng:int(2048, 32768) or rng:int(2048, 200000),
      format = rng:chance(0.3) and "array" or "ndjson",
      gzip = gz,
      empty = rng:chance(0.05),
      outcome = status == "ERROR" and "ERROR" or "SUCCESS",
    })
    local req = history_request(rng, scope, created)
    local start = created + rng:int(0, 30)
    local done = start + rng:int(5, 900)
    M.create({
      id = util.id("export_", cfg.seed, "history", i),
      scope = scope,
      request = json.fast_decode(json.encode(req)),
      request_text = json.encode(req),
      plan = plan,
      created = created,
      frozen = status,
      lazy = true,
      dates = {
        request = created,
        start = (status == "RUNNING" or status == "SUCCESS" or status == "ERROR") and start or nil,
        completion = (status == "SUCCESS" or status == "ERROR") and done or nil,
      },
    })
  end
end

-- A gzip part's size is only known once compressed, so the seeded gzip parts
-- (small) are written in the background right after start or reset; a view
-- or list that needs one first simply waits for it (see file_size).
function M.warm()
  local ok, err = ngx.timer.at(0, function(premature)
    if premature then return end
    local items = M.sorted_index()
    for _, it in ipairs(items) do
      local rec = M.get(it[3])
      if rec and rec.lazy then
        for _, fid in ipairs(rec.files) do
          local spec = M.file(fid)
          if spec and spec.gzip then generator.ensure(spec) end
        end
      end
    end
  end)
  if not ok then ngx.log(ngx.ERR, "cannot start warm-up timer: ", err) end
end

-- Generate the parts in the background right after creation, so the export
-- can turn SUCCESS as soon as its clock says so.
function M.generate_async(rec)
  if #rec.files == 0 then return end
  local ids = rec.files
  local ok, err = ngx.timer.at(0, function(premature)
    if premature then return end
    for _, fid in ipairs(ids) do
      local spec = M.file(fid)
      if spec then generator.ensure(spec) end
    end
  end)
  if not ok then ngx.log(ngx.ERR, "cannot start generation timer: ", err) end
end

return M
