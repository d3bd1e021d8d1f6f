-- The control API under /_mock/ on the API host: plain JSON over HTTP so a
-- test in any language can reset state, shape exports, inject faults, move
-- the clock and read the request log.
local json = require("batchmock.json")
local state = require("batchmock.state")
local clock = require("batchmock.clock")
local http = require("batchmock.http")
local faults = require("batchmock.faults")
local chaos = require("batchmock.chaos")
local log = require("batchmock.log")
local exports = require("batchmock.exports")
local legacy = require("batchmock.legacy")
local generator = require("batchmock.generator")

local M = {}

local function reply(status, value) return http.json(status, value) end
local function fail(status, msg) return reply(status, { error = msg }) end

local function body_table(optional)
  local raw = http.body()
  if not raw or raw == "" then
    if optional then return json.object({}) end
    return fail(400, "a JSON object body is required")
  end
  local v, err = json.decode(raw)
  if v == nil then return fail(400, "invalid JSON: " .. err) end
  if not json.is_object(v) then return fail(400, "the body must be a JSON object") end
  return v
end

local function only(t, allowed)
  for k in pairs(t) do
    if not allowed[k] then return fail(400, "unknown field '" .. k .. "'") end
  end
end

local PLAN_FIELDS = { parts = true, part_size = true, format = true, gzip = true, outcome = true, duration = true, empty = true }

local function info()
  local cfg = state.cfg()
  return {
    api_url = cfg.api_url, storage_url = cfg.storage_url, seed = cfg.seed, speed = clock.speed(),
    link_ttl = cfg.link_ttl, created = cfg.created, pending = cfg.pending, running = cfg.running,
    history = cfg.history, data_dir = cfg.data_dir, now = clock.now(),
  }
end

local function file_info(spec, ensure)
  local meta = generator.meta(spec)
  if not meta and ensure then meta = generator.ensure(spec) end
  return json.object({
    id = spec.id, kind = spec.kind, owner = spec.owner, part = spec.part, format = spec.format,
    gzip = spec.gzip, part_size = spec.part_size, rows = spec.rows,
    size = meta and meta.size or json.null, sha256 = meta and meta.sha256 or json.null,
    records = meta and meta.records or json.null, path = generator.path(spec),
  }, { "id", "kind", "owner", "part", "format", "gzip", "part_size", "rows", "size", "sha256", "records", "path" })
end

local function default_request(scope)
  if scope == "PROFILE_EVENTS" then
    local now = clock.now()
    return json.object({ export_type = "EVENTS", from = clock.rfc3339(now - 7 * 86400), to = "now",
      events = json.array({ "email_open", "email_click" }), identifiers = json.array({ "custom_id" }) },
      { "export_type", "from", "to", "events", "identifiers" })
  end
  return json.object({ export_type = "ATTRIBUTES", attributes = json.array({ "$email_address", "$language", "$region", "firstname" }),
    identifiers = json.array({ "custom_id", "installation_ids" }) }, { "export_type", "attributes", "identifiers" })
end

local STATUSES = { CREATED = true, PENDING = true, RUNNING = true, SUCCESS = true, ERROR = true }

local function create_export(b)
  local allowed = { status = true, scope = true, request = true, request_date = true }
  for k in pairs(PLAN_FIELDS) do allowed[k] = true end
  only(b, allowed)
  local plan_in = {}
  for k in pairs(PLAN_FIELDS) do plan_in[k] = b[k] end
  if b.status == "ERROR" then plan_in.outcome = "ERROR" end
  local plan, perr = exports.normalize_plan(plan_in)
  if not plan then return fail(400, perr) end
  if b.status ~= nil and not STATUSES[b.status] then return fail(400, "status must be one of CREATED, PENDING, RUNNING, SUCCESS, ERROR") end
  local request = b.request
  local scope = b.scope
  if request ~= nil then
    local s, verr = require("batchmock.v2").validate(request)
    if not s then return fail(400, "request: " .. verr.message) end
    if scope and scope ~= s then return fail(400, "scope does not match request.export_type") end
    scope = s
  else
    scope = scope or "PROFILE_ATTRIBUTES"
    if scope ~= "PROFILE_ATTRIBUTES" and scope ~= "PROFILE_EVENTS" then return fail(400, "scope must be PROFILE_ATTRIBUTES or PROFILE_EVENTS") end
    request = default_request(scope)
  end
  local created = clock.now()
  if b.request_date ~= nil then
    created = clock.parse_rfc3339(b.request_date)
    if not created then return fail(400, "request_date must be RFC 3339") end
  end
  local text = json.encode(request)
  local dates
  if b.status then
    local start = created + 1
    local done = created + 2
    dates = { request = created,
      start = (b.status == "RUNNING" or b.status == "SUCCESS" or b.status == "ERROR") and start or nil,
      completion = (b.status == "SUCCESS" or b.status == "ERROR") and done or nil }
  end
  local rec = exports.create({ scope = scope, request = json.fast_decode(text), request_text = text, plan = plan,
    created = created, frozen = b.status, dates = dates })
  if b.status == "SUCCESS" then
    for _, fid in ipairs(rec.files) do
      local meta, err = generator.ensure(exports.file(fid))
      if not meta then return fail(500, "generating files failed: " .. tostring(err)) end
    end
  elseif not b.status then
    exports.generate_async(rec)
  end
  return reply(201, exports.render(exports.get(rec.id), "2.11"))
end

local function create_legacy(b)
  only(b, { rows = true, outcome = true, duration = true, error_msg = true, kind = true, token = true,
    request = true, status = true })
  local kind = b.kind or "campaign_events"
  if not legacy.KINDS[kind] then return fail(400, "unknown kind '" .. tostring(kind) .. "'") end
  local plan, perr = legacy.normalize_plan({ rows = b.rows, outcome = b.outcome, duration = b.duration, error_msg = b.error_msg })
  if not plan then return fail(400, perr) end
  local LST = { CREATED = true, PENDING = true, SUCCESS = true, ERROR = true, EXPIRED = true }
  if b.status ~= nil and not LST[b.status] then return fail(400, "status must be one of CREATED, PENDING, SUCCESS, ERROR, EXPIRED") end
  local token = legacy.KINDS[kind].segment and (b.token or "mock_campaign_token") or nil
  local request = b.request
  if request == nil then
    local k = legacy.KINDS[kind]
    request = json.object({}, { "from", "to", "events", "ids" })
    if k.dates then request.from = clock.legacy(clock.now() - 7 * 86400); request.to = "now" end
    if k.events then
      local evs = {}
      for e in pairs(k.events) do evs[#evs + 1] = e end
      table.sort(evs)
      request.events = json.array(evs)
    end
    request.ids = json.array({ "install_id", "custom_id", "advertising_id" })
  else
    local e = legacy.validate(kind, request, token)
    if e then return fail(400, "request: " .. e.message) end
  end
  local text = json.encode(request)
  local rec = legacy.create({ kind = kind, token = token, request = json.fast_decode(text), request_text = text,
    plan = plan, frozen = b.status })
  if b.status == "SUCCESS" or (not b.status and plan.outcome == "SUCCESS") then
    generator.ensure(state.get("f:" .. rec.file))
  end
  return reply(201, legacy.render(legacy.get(rec.id)))
end

function M.handle()
  local method = ngx.req.get_method()
  local path = ngx.var.uri:sub(#"/_mock" + 1)

  if path == "/reset" and method == "POST" then
    state.reset()
    return reply(200, { ok = true })
  elseif path == "/info" or path == "/health" then
    return reply(200, info())
  elseif path == "/clock" then
    if method == "GET" then return reply(200, { now = clock.now(), speed = clock.speed() }) end
    local b = body_table()
    only(b, { advance = true, speed = true })
    if b.advance ~= nil then
      if type(b.advance) ~= "number" or b.advance < 0 then return fail(400, "advance must be a non-negative number of seconds") end
      clock.advance(b.advance)
    end
    if b.speed ~= nil then
      local _, err = state.update_cfg({ speed = b.speed })
      if err then return fail(400, err) end
    end
    return reply(200, { now = clock.now(), speed = clock.speed() })
  elseif path == "/config" then
    if method == "GET" then return reply(200, info()) end
    local b = body_table()
    local plain = {}
    for k, v in pairs(b) do plain[k] = v end
    local _, err = state.update_cfg(plain)
    if err then return fail(400, err) end
    return reply(200, info())
  elseif path == "/faults" then
    if method == "GET" then return reply(200, { faults = faults.list() }) end
    if method == "DELETE" then faults.clear(); return reply(200, { ok = true }) end
    local b = body_table()
    local plain = {}
    for k, v in pairs(b) do plain[k] = v end
    local f, err = faults.add(plain)
    if not f then return fail(400, err) end
    return reply(201, { id = f.id })
  elseif path == "/chaos" then
    if method == "GET" then return reply(200, chaos.report()) end
    if method == "DELETE" then return reply(200, chaos.stop()) end
    local report, err = chaos.start(body_table())
    if not report then return fail(400, err) end
    return reply(201, report)
  elseif path == "/log" then
    if method == "DELETE" then log.clear(); return reply(200, { ok = true }) end
    -- Let the event loop run once first: a request whose response the client
    -- has just read may not have reached its log phase yet.
    ngx.sleep(0.01)
    return reply(200, { requests = log.entries() })
  elseif path == "/plan" or path == "/legacy/plan" then
    local list = path == "/plan" and "plans" or "lplans"
    if method == "DELETE" then state.dict:delete(list); return reply(200, { ok = true }) end
    if method == "GET" then return reply(200, { pending = state.dict:llen(list) or 0 }) end
    local b = body_table(true)
    local plan, err
    if path == "/plan" then
      only(b, PLAN_FIELDS)
      plan, err = exports.normalize_plan(b)
    else
      only(b, { rows = true, outcome = true, duration = true, error_msg = true, kind = true })
      plan, err = legacy.normalize_plan(b)
    end
    if not plan then return fail(400, err) end
    state.dict:rpush(list, json.fast_encode(plan))
    return reply(201, { queued = state.dict:llen(list) })
  elseif path == "/exports" then
    if method == "GET" then
      local ids = json.array()
      for _, it in ipairs(exports.sorted_index()) do ids[#ids + 1] = it[3] end
      return reply(200, { ids = ids })
    end
    return create_export(body_table(true))
  elseif path == "/legacy/requests" then
    if method == "GET" then return reply(200, { ids = legacy.ids() }) end
    return create_legacy(body_table(true))
  end
  local fid, sub = path:match("^/files/([^/]+)/?(.*)$")
  if fid then
    local spec = state.get("f:" .. fid)
    if not spec then return fail(404, "no file '" .. fid .. "'") end
    if sub == "sha256" then
      local info_ = file_info(spec, true)
      return reply(200, { id = fid, sha256 = info_.sha256, size = info_.size })
    end
    return reply(200, file_info(spec, sub == "" and ngx.var.arg_generate ~= "0"))
  end
  return fail(404, "no control route " .. method .. " /_mock" .. path)
end

return M
