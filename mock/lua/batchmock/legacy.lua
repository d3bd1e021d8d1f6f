-- Legacy Export API 1.0 ("MEP"): eight create routes with their own rules,
-- request status with EXPIRED, and result files behind a 302 to storage.
local json = require("batchmock.json")
local util = require("batchmock.util")
local clock = require("batchmock.clock")
local state = require("batchmock.state")
local http = require("batchmock.http")
local auth = require("batchmock.auth")
local generator = require("batchmock.generator")

local M = {}

local PUSH_EVENTS = { push_sent = true, push_open = true, push_error = true }
local INAPP_EVENTS = { inapp_shown = true, inapp_clicked = true, inapp_closed = true }
local IDS = { install_id = true, custom_id = true, advertising_id = true }

-- kind -> route shape and what its body may hold
local KINDS = {
  campaign_ids = { segment = "campaign", tail = "ids", events = PUSH_EVENTS, allowed_events = "push_sent, push_open, push_error" },
  campaign_events = { segment = "campaign", tail = "events", events = PUSH_EVENTS, allowed_events = "push_sent, push_open, push_error" },
  transactional_ids = { segment = "transactional", tail = "ids", events = PUSH_EVENTS, allowed_events = "push_sent, push_open, push_error" },
  transactional_events = { segment = "transactional", tail = "events", events = PUSH_EVENTS, allowed_events = "push_sent, push_open, push_error" },
  inapp_ids = { segment = "in-app-campaign", tail = "ids", events = INAPP_EVENTS, allowed_events = "inapp_shown, inapp_clicked, inapp_closed" },
  inapp_events = { segment = "in-app-campaign", tail = "events", events = INAPP_EVENTS, allowed_events = "inapp_shown, inapp_clicked, inapp_closed" },
  reachability = { dates = true },
  userbase = {},
}
for _, k in pairs(KINDS) do if k.events then k.dates = true end end
M.KINDS = KINDS

local SEGMENT_KIND = { campaign = "campaign", transactional = "transactional", ["in-app-campaign"] = "inapp" }

-- kind, token from the path after /export/, or nil
local function route_kind(rest)
  local seg, token, tail = rest:match("^([%a%-]+)/([^/]+)/(%a+)$")
  if seg and SEGMENT_KIND[seg] and (tail == "ids" or tail == "events") then
    return SEGMENT_KIND[seg] .. "_" .. tail, token
  end
  if rest == "reachability/events" then return "reachability" end
  if rest == "userbase" then return "userbase" end
end

local function err(name, msg) return { name = name, message = msg } end

-- returns nil or {name, message}
function M.validate(kind, body, token)
  local k = KINDS[kind]
  if not json.is_object(body) then return err("MALFORMED_JSON_BODY", "the request body must be a JSON object") end
  if token ~= nil and not token:match("^[%w_%-%.~]+$") then
    return err("MALFORMED_PARAMETER", "the campaign token or group id in the path is malformed")
  end
  local allowed = { ids = true }
  if k.dates then allowed.from = true; allowed.to = true end
  if k.events then allowed.events = true end
  for key in pairs(body) do
    if not allowed[key] then
      local list = {}
      for a in pairs(allowed) do list[#list + 1] = a end
      table.sort(list)
      return err("MALFORMED_PARAMETER", "field '" .. key .. "' is not accepted by a " .. kind .. " export (accepted: " .. table.concat(list, ", ") .. ")")
    end
  end
  local from, to
  if k.dates then
    for _, f in ipairs({ "from", "to" }) do
      local v = body[f]
      if v == nil then return err("MISSING_PARAMETER", "missing required field '" .. f .. "'") end
      if type(v) ~= "string" then return err("MALFORMED_PARAMETER", "'" .. f .. "' must be a string") end
      local t = v == "now" and clock.now() or clock.parse_legacy(v)
      if not t then
        return err("MALFORMED_PARAMETER", "'" .. f .. "' must be \"now\" or a UTC date in the YYYY-MM-ddTHH:mm:ss format, got '" .. v .. "'")
      end
      if f == "from" then from = t else to = t end
    end
    if from > to then return err("MALFORMED_PARAMETER", "'from' must not be after 'to'") end
  end
  if k.events then
    local ev = body.events
    if ev == nil then return err("MISSING_PARAMETER", "missing required field 'events'") end
    if not json.is_array(ev) or #ev == 0 then return err("MALFORMED_PARAMETER", "'events' must be a non-empty array of strings") end
    for i, e in ipairs(ev) do
      if type(e) ~= "string" or not k.events[e] then
        return err("MALFORMED_PARAMETER", string.format("'events[%d]' is not an event of a %s export: %s (allowed: %s)", i - 1, kind, json.encode(e), k.allowed_events))
      end
    end
  end
  local ids = body.ids
  if ids == nil then return err("MISSING_PARAMETER", "missing required field 'ids'") end
  if not json.is_array(ids) or #ids == 0 then return err("MALFORMED_PARAMETER", "'ids' must be a non-empty array of strings") end
  for i, v in ipairs(ids) do
    if type(v) ~= "string" or not IDS[v] then
      return err("MALFORMED_PARAMETER", string.format("'ids[%d]' is not an id kind: %s (allowed: install_id, custom_id, advertising_id)", i - 1, json.encode(v)))
    end
  end
end

function M.normalize_plan(p)
  p = p or {}
  local plan = { rows = p.rows or 50, outcome = p.outcome or "SUCCESS", duration = p.duration, error_msg = p.error_msg }
  if type(plan.rows) ~= "number" or plan.rows < 0 or plan.rows % 1 ~= 0 then return nil, "rows must be a non-negative integer" end
  if plan.outcome ~= "SUCCESS" and plan.outcome ~= "ERROR" and plan.outcome ~= "EXPIRED" then
    return nil, "outcome must be SUCCESS, ERROR or EXPIRED"
  end
  if plan.duration ~= nil and (type(plan.duration) ~= "number" or plan.duration < 0) then return nil, "duration must be a non-negative number" end
  if plan.error_msg ~= nil and type(plan.error_msg) ~= "string" then return nil, "error_msg must be a string" end
  return plan
end

local function durations(plan)
  local cfg = state.cfg()
  local c, p = cfg.created, cfg.pending + cfg.running
  if plan.duration then
    local total = c + p
    if total <= 0 then c, p = 0, plan.duration else c, p = plan.duration * c / total, plan.duration * p / total end
  end
  return { c, p }
end

local function filename(kind, id)
  return "export_" .. kind .. "_" .. id:sub(1, 8) .. ".csv"
end

function M.path_for(kind, token)
  local k = KINDS[kind]
  if k.segment then return k.segment .. "/" .. token .. "/" .. k.tail end
  if kind == "reachability" then return "reachability/events" end
  return "userbase"
end

-- opts: kind, token, request (table), request_text, plan, created, frozen, id
function M.create(opts)
  local cfg = state.cfg()
  local n = state.incr("l:created")
  local id = opts.id or util.uuid(cfg.seed, state.epoch(), n)
  local created = opts.created or clock.now()
  local rec = {
    id = id,
    kind = opts.kind,
    token = opts.token,
    uri = "/1.0/" .. cfg.api_key .. "/export/" .. M.path_for(opts.kind, opts.token),
    request_text = opts.request_text,
    created = created,
    d = durations(opts.plan),
    outcome = opts.plan.outcome,
    error_msg = opts.plan.error_msg,
    frozen = opts.frozen,
    filename = filename(opts.kind, id),
    inflight = opts.inflight,
  }
  local key = util.hash(cfg.seed, "legacy", opts.kind, opts.token, opts.request_text, opts.plan.rows, math.floor(created))
  local spec = {
    id = "lfile_" .. id,
    kind = "legacy",
    owner = id,
    key = key,
    format = "csv",
    gzip = false,
    rows = opts.plan.rows,
    legacy_kind = opts.kind,
    token = opts.token,
    request = opts.request,
    created = math.floor(created),
    diskname = key .. ".csv",
  }
  state.put("f:" .. spec.id, spec)
  rec.file = spec.id
  state.put("l:" .. id, rec)
  state.dict:rpush("l:ids", id)
  return rec
end

function M.get(id) return state.get("l:" .. id) end

-- status, completion ts
function M.status(rec, now)
  now = now or clock.now()
  if rec.frozen then
    local done = rec.frozen ~= "CREATED" and rec.frozen ~= "PENDING" and rec.created + rec.d[1] + rec.d[2] or nil
    return rec.frozen, done
  end
  local t = now - rec.created
  local c, p = rec.d[1], rec.d[2]
  if t < c then return "CREATED" end
  local done = rec.created + c + p
  if t < c + p then return "PENDING" end
  if rec.outcome == "SUCCESS" then
    if now - done > state.cfg().legacy_file_ttl_days * 86400 then return "EXPIRED", done end
    -- the CSV is written before the request reports SUCCESS
    local spec = state.get("f:" .. rec.file)
    if spec and not generator.ready(spec) then
      if generator.ensure(spec) == nil then return "PENDING" end
    end
  end
  return rec.outcome, done
end

local ORDER = { "id", "uri", "request_date", "file_url", "status", "completion_date", "request", "error_msg" }

function M.render(rec)
  local cfg = state.cfg()
  local status, done = M.status(rec)
  return json.object({
    id = rec.id,
    uri = rec.uri,
    request_date = clock.legacy(rec.created),
    file_url = status == "SUCCESS" and (cfg.api_url .. "/1.0/" .. cfg.api_key .. "/export/request/" .. rec.id .. "/results/" .. rec.filename) or json.null,
    status = status,
    completion_date = done and clock.legacy(done) or json.null,
    request = json.raw(rec.request_text),
    error_msg = status == "ERROR" and (rec.error_msg or "The export could not be generated: internal error while reading events") or json.null,
  }, ORDER)
end

local function retention_gone(rec)
  return clock.now() - rec.created > state.cfg().legacy_retention_days * 86400
end

-- JSON text with object keys sorted, so equal bodies give equal text.
local function canonical(v)
  if type(v) ~= "table" or v == json.null then return json.encode(v) end
  local parts = {}
  if json.is_array(v) or #v > 0 then
    for i = 1, #v do parts[i] = canonical(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = json.encode(k) .. ":" .. canonical(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function create_route(kind, token)
  if not http.is_json_content_type() then
    return http.legacy_error("MALFORMED_JSON_BODY", "Content-Type must be application/json")
  end
  local raw = http.body()
  if not raw or raw == "" then return http.legacy_error("MALFORMED_JSON_BODY", "the request body is empty; a JSON object is required") end
  local body, jerr = json.decode(raw)
  if body == nil then return http.legacy_error("MALFORMED_JSON_BODY", "the request body is not valid JSON: " .. jerr) end
  local e = M.validate(kind, body, token)
  if e then return http.legacy_error(e.name, e.message) end
  local text = json.encode(body)
  -- "the same export": same route and same body, still CREATED or PENDING;
  -- the body compared with its keys sorted, as clients order them freely
  local inflight = "l:inflight:" .. util.hash(kind, token, canonical(body))
  local prev = state.dict:get(inflight)
  if prev then
    local prec = M.get(prev)
    if prec then
      local st = M.status(prec)
      if st == "CREATED" or st == "PENDING" then
        return http.json(409, { error = json.object({ code = 12, name = "API_MISUSE",
          message = "an identical export is already being processed (request " .. prev .. ")" }, { "code", "name", "message" }) })
      end
    end
  end
  local plan_raw = state.dict:lpop("lplans")
  local plan = plan_raw and json.fast_decode(plan_raw) or M.normalize_plan({})
  local rec = M.create({ kind = kind, token = token, request = json.fast_decode(text), request_text = text, plan = plan })
  state.dict:set(inflight, rec.id)
  local spec = state.get("f:" .. rec.file)
  ngx.timer.at(0, function(premature) if not premature then generator.ensure(spec) end end)
  return http.json(202, { requestId = rec.id })
end

local function status_route(id)
  local rec = M.get(id)
  if not rec or retention_gone(rec) then
    return http.legacy_error("ROUTE_NOT_FOUND", "no export request with id '" .. id .. "'")
  end
  return http.json(200, M.render(rec))
end

local function results_route(id, name)
  local rec = M.get(id)
  if not rec or retention_gone(rec) or name ~= rec.filename then
    return http.legacy_error("ROUTE_NOT_FOUND", "no result file '" .. name .. "' for request '" .. id .. "'")
  end
  local status = M.status(rec)
  if status ~= "SUCCESS" then
    return http.legacy_error("ROUTE_NOT_FOUND", "request '" .. id .. "' is " .. status .. ": no file to download")
  end
  local spec = state.get("f:" .. rec.file)
  return http.send(302, "", { Location = require("batchmock.v2").storage_url(spec), ["Cache-Control"] = "no-store" })
end

function M.handle(api_key, rest)
  local method = ngx.req.get_method()
  local id, name = rest:match("^request/([^/]+)/results/([^/]+)$")
  if id then
    if method ~= "GET" and method ~= "HEAD" then return http.legacy_error("ROUTE_NOT_FOUND", method .. " " .. "request/…/results is not a route (use GET)") end
    auth.legacy(api_key)
    return results_route(id, name)
  end
  id = rest:match("^request/([^/]+)$")
  if id then
    if method ~= "GET" and method ~= "HEAD" then return http.legacy_error("ROUTE_NOT_FOUND", method .. " request/{id} is not a route (use GET)") end
    auth.legacy(api_key)
    return status_route(id)
  end
  local kind, token = route_kind(rest)
  if not kind then return http.legacy_error("ROUTE_NOT_FOUND", "no such route: /1.0/***/export/" .. rest) end
  if method ~= "POST" then return http.legacy_error("ROUTE_NOT_FOUND", method .. " is not a route here (use POST)") end
  auth.legacy(api_key)
  return create_route(kind, token)
end

-- A few requests of each kind and status, so status polling works from start.
function M.seed_history()
  local cfg = state.cfg()
  local now = clock.now()
  local kinds = { "campaign_ids", "campaign_events", "transactional_ids", "transactional_events",
    "inapp_ids", "inapp_events", "reachability", "userbase" }
  local statuses = { "SUCCESS", "SUCCESS", "ERROR", "EXPIRED", "PENDING", "CREATED" }
  for i = 1, cfg.legacy_history do
    local rng = util.rng(cfg.seed, "legacy", i)
    local kind = kinds[(i - 1) % #kinds + 1]
    local k = KINDS[kind]
    local req = json.object({}, { "from", "to", "events", "ids" })
    if k.dates then
      req.from = clock.legacy(now - rng:int(2, 60) * 86400)
      req.to = "now"
    end
    if k.events then
      local evs = {}
      for e in pairs(k.events) do evs[#evs + 1] = e end
      table.sort(evs)
      req.events = json.array(evs)
    end
    req.ids = json.array({ "install_id", "custom_id", "advertising_id" })
    local status = statuses[(i - 1) % #statuses + 1]
    local token = k.segment and ("tok_" .. rng:alnum(12)) or nil
    local text = json.encode(req)
    local plan = M.normalize_plan({ rows = rng:int(5, 80), outcome = status == "ERROR" and "ERROR" or "SUCCESS",
      error_msg = status == "ERROR" and "Campaign token not found in this app" or nil })
    M.create({
      id = util.uuid(cfg.seed, "legacy-history", i),
      kind = kind, token = token, request = json.fast_decode(text), request_text = text, plan = plan,
      created = now - 3600 * i, frozen = status,
    })
  end
end

function M.ids()
  local n = state.dict:llen("l:ids") or 0
  local out = json.array()
  for _ = 1, n do
    local id = state.dict:lpop("l:ids")
    state.dict:rpush("l:ids", id)
    out[#out + 1] = id
  end
  return out
end

return M
