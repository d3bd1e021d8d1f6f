-- Exports API v2 routes: create, view, list, download. Bodies are validated
-- against the published schema (oneOf ATTRIBUTES | EVENTS) and every 400 names
-- the offending field.
local json = require("batchmock.json")
local clock = require("batchmock.clock")
local state = require("batchmock.state")
local http = require("batchmock.http")
local auth = require("batchmock.auth")
local exports = require("batchmock.exports")

local M = {}

local LOOKBACK = 90 * 86400

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end
local NATIVE = set_of(exports.NATIVE)
NATIVE["$city"] = true -- listed by the view page's schema
local EVENTS = set_of(exports.EVENTS)
local ATTR_IDS = set_of({ "custom_id", "installation_ids" })
-- the list page allows custom_id, the view page also installation_id
local EVENT_IDS = set_of({ "custom_id", "installation_id" })

local function bad(field, msg, code)
  return { field = field, message = msg, code = code or "MALFORMED_PARAMETER" }
end

local function string_array(body, field, opts)
  local v = body[field]
  if v == nil then return nil end
  if not json.is_array(v) then return bad(field, "'" .. field .. "' must be an array of strings") end
  if #v == 0 then return bad(field, "'" .. field .. "' must contain at least one item") end
  for i, item in ipairs(v) do
    if type(item) ~= "string" then
      return bad(field, string.format("'%s[%d]' must be a string", field, i - 1))
    end
    if opts.enum and not opts.enum[item] then
      return bad(field, string.format("'%s[%d]' has an unsupported value '%s' (allowed: %s)", field, i - 1, item, opts.allowed))
    end
    if opts.check then
      local m = opts.check(item, i)
      if m then return bad(field, m) end
    end
  end
end

local function validate_attributes(body)
  for _, k in ipairs(body.__order or {}) do
    if k ~= "export_type" and k ~= "attributes" and k ~= "identifiers" and k ~= "filter" then
      return bad(k, "unknown field '" .. k .. "' for an ATTRIBUTES export (allowed: export_type, attributes, identifiers, filter)")
    end
  end
  if body.attributes == nil and body.identifiers == nil then
    return bad("attributes", "an ATTRIBUTES export needs 'attributes' or 'identifiers' (at least one)", "MISSING_PARAMETER")
  end
  local e = string_array(body, "attributes", {
    check = function(item, i)
      if item == "" then return string.format("'attributes[%d]' must not be empty", i - 1) end
      if item:sub(1, 1) == "$" and not NATIVE[item] then
        return string.format("'attributes[%d]' is not a native attribute: '%s'", i - 1, item)
      end
    end,
  })
  if e then return e end
  e = string_array(body, "identifiers", { enum = ATTR_IDS, allowed = "custom_id, installation_ids" })
  if e then return e end
  if body.filter ~= nil then
    if not json.is_object(body.filter) then return bad("filter", "'filter' must be an object") end
    for k, v in pairs(body.filter) do
      if k ~= "segment" then return bad("filter." .. k, "unknown field 'filter." .. k .. "' (allowed: segment)") end
      if type(v) ~= "string" or v == "" then return bad("filter.segment", "'filter.segment' must be a non-empty string") end
    end
  end
end

local function validate_events(body)
  for _, k in ipairs(body.__order or {}) do
    if k ~= "export_type" and k ~= "from" and k ~= "to" and k ~= "events" and k ~= "identifiers"
        and k ~= "orchestration_ids" then
      return bad(k, "unknown field '" .. k .. "' for an EVENTS export (allowed: export_type, from, to, events, identifiers, orchestration_ids)")
    end
  end
  for _, f in ipairs({ "from", "to", "events" }) do
    if body[f] == nil then return bad(f, "missing required field '" .. f .. "'", "MISSING_PARAMETER") end
  end
  if type(body.from) ~= "string" then return bad("from", "'from' must be an RFC 3339 date string") end
  local from = clock.parse_rfc3339(body.from)
  if not from then return bad("from", "'from' is not a valid RFC 3339 date (e.g. 2024-02-28T16:28:42Z): '" .. body.from .. "'") end
  if type(body.to) ~= "string" then return bad("to", "'to' must be an RFC 3339 date string or \"now\"") end
  local now = clock.now()
  local to
  if body.to == "now" then to = now else
    to = clock.parse_rfc3339(body.to)
    if not to then return bad("to", "'to' is not a valid RFC 3339 date or \"now\": '" .. body.to .. "'") end
  end
  if from >= to then return bad("from", "'from' must be before 'to'") end
  if from < now - LOOKBACK then return bad("from", "'from' is older than the 90-day lookback period") end
  local e = string_array(body, "events", { enum = EVENTS, allowed = table.concat(exports.EVENTS, ", ") })
  if e then return e end
  e = string_array(body, "identifiers", { enum = EVENT_IDS, allowed = "custom_id, installation_id" })
  if e then return e end
  -- identifiers has no minItems for events; an empty array is allowed
  e = string_array(body, "orchestration_ids", {
    check = function(item, i) if item == "" then return string.format("'orchestration_ids[%d]' must not be empty", i - 1) end end,
  })
  if e then return e end
end

-- returns scope or nil, error {field, message, code}
function M.validate(body)
  if not json.is_object(body) then return nil, bad("body", "the request body must be a JSON object") end
  body.__order = getmetatable(body).__order
  local et = body.export_type
  if et == nil then return nil, bad("export_type", "missing required field 'export_type' (ATTRIBUTES or EVENTS)", "MISSING_PARAMETER") end
  local err, scope
  if et == "ATTRIBUTES" then
    err, scope = validate_attributes(body), "PROFILE_ATTRIBUTES"
  elseif et == "EVENTS" then
    if body.identifiers ~= nil and json.is_array(body.identifiers) and #body.identifiers == 0 then
      body.identifiers = nil
    end
    err, scope = validate_events(body), "PROFILE_EVENTS"
  else
    err = bad("export_type", "'export_type' must be ATTRIBUTES or EVENTS, got " .. json.encode(et))
  end
  body.__order = nil
  if err then return nil, err end
  return scope
end

local function create(version)
  if not http.is_json_content_type() then
    return http.v2_error(400, "MALFORMED_JSON_BODY", "Content-Type must be application/json")
  end
  local raw = http.body()
  if not raw or raw == "" then return http.v2_error(400, "MALFORMED_JSON_BODY", "the request body is empty; a JSON object is required") end
  local body, jerr = json.decode(raw)
  if body == nil then return http.v2_error(400, "MALFORMED_JSON_BODY", "the request body is not valid JSON: " .. jerr) end
  local scope, verr = M.validate(body)
  if not scope then return http.v2_error(400, verr.code, verr.message) end

  local plan_raw = state.dict:lpop("plans")
  local plan = plan_raw and json.fast_decode(plan_raw) or exports.normalize_plan({})
  local rec = exports.create({
    scope = scope,
    request = json.fast_decode(raw),
    request_text = json.encode(body),
    plan = plan,
  })
  exports.generate_async(rec)
  return http.json(202, { id = rec.id })
end

local function view(version)
  local id = ngx.req.get_uri_args().id
  if type(id) == "table" then return http.v2_error(400, "MALFORMED_PARAMETER", "'id' is given more than once") end
  if not id or id == "" or id == true then return http.v2_error(400, "MISSING_PARAMETER", "missing required query parameter 'id'") end
  local rec = exports.get(id)
  if not rec then return http.v2_error(404, "NOT_FOUND", "no export with id '" .. id .. "'") end
  return http.json(200, exports.render(rec, version))
end

-- Cursors: base64 of a fixed binary prefix and the position, so they always
-- contain '+', '/' and '=' and a client that does not percent-encode them
-- (a raw '+' decodes to a space) gets a 400 instead of a silent wrong page.
local CURSOR_MAGIC = "\251\255\191"

local function encode_cursor(ts, seq)
  local payload = string.format("%.3f|%d", ts, seq)
  local mac = ngx.md5(state.cfg().secret .. payload):sub(1, 8)
  local raw = CURSOR_MAGIC .. payload .. "|" .. mac
  if #raw % 3 == 0 then raw = raw .. "|" end
  return ngx.encode_base64(raw)
end

local function decode_cursor(c)
  local raw = ngx.decode_base64(c)
  if not raw or raw:sub(1, 3) ~= CURSOR_MAGIC then return nil end
  local ts, seq, mac = raw:sub(4):match("^([%d.]+)|(%d+)|(%x+)|?$")
  if not ts then return nil end
  if ngx.md5(state.cfg().secret .. ts .. "|" .. seq):sub(1, 8) ~= mac then return nil end
  return tonumber(ts), tonumber(seq)
end

local function list(version)
  local args = ngx.req.get_uri_args()
  local limit = 10
  if args.limit ~= nil then
    local l = args.limit
    if type(l) ~= "string" or not l:match("^%d+$") or tonumber(l) < 1 or tonumber(l) > 100 then
      return http.v2_error(400, "MALFORMED_PARAMETER", "'limit' must be an integer between 1 and 100, got " .. json.encode(type(l) == "table" and l or tostring(l)))
    end
    limit = tonumber(l)
  end
  local after_ts, after_seq
  if args.from ~= nil then
    if type(args.from) ~= "string" then return http.v2_error(400, "MALFORMED_PARAMETER", "'from' must be a single cursor string") end
    after_ts, after_seq = decode_cursor(args.from)
    if not after_ts then
      return http.v2_error(400, "MALFORMED_PARAMETER", "'from' is not a valid cursor (use next_from verbatim, percent-encoded in the query string)")
    end
  end
  local now = clock.now()
  local cutoff = now - state.cfg().list_retention_days * 86400
  local items = exports.sorted_index()
  local page = json.array()
  local has_more, last = false, nil
  for _, it in ipairs(items) do
    local ts, seq = it[1], it[2]
    local after = not after_ts or ts < after_ts or (ts == after_ts and seq < after_seq)
    if after and ts >= cutoff then
      if #page == limit then has_more = true; break end
      local rec = exports.get(it[3])
      if rec then
        page[#page + 1] = exports.render(rec, version, now)
        last = it
      end
    end
  end
  local out = json.object({ exports = page, count = #page, has_more = has_more },
    { "exports", "count", "has_more", "next_from" })
  if has_more then out.next_from = encode_cursor(tonumber(string.format("%.3f", last[1])), last[2]) end
  return http.json(200, out)
end

-- Signed storage URL: base64 HMAC (percent-encoded, so it holds %2B/%2F/%3D
-- that a client must pass through untouched) and an expiry in mock time.
function M.sign(name, expires)
  local sig = ngx.encode_base64(ngx.hmac_sha1(state.cfg().secret, "GET\n" .. name .. "\n" .. expires))
  return ngx.escape_uri(sig)
end

function M.storage_url(spec)
  local cfg = state.cfg()
  local path = "/exports/" .. spec.id .. "/" .. spec.diskname
  local expires = math.floor(clock.now() + cfg.link_ttl)
  return cfg.storage_url .. path .. "?Expires=" .. expires .. "&Signature=" .. M.sign(path, expires)
end

local function download(version)
  local id = ngx.req.get_uri_args().id
  if type(id) == "table" then return http.v2_error(400, "MALFORMED_PARAMETER", "'id' is given more than once") end
  if not id or id == "" or id == true then return http.v2_error(400, "MISSING_PARAMETER", "missing required query parameter 'id'") end
  local spec = exports.file(id)
  if not spec or spec.kind ~= "v2" then return http.v2_error(404, "NOT_FOUND", "no export file with id '" .. id .. "'") end
  local rec = exports.get(spec.owner)
  local status = rec and exports.status(rec)
  if status ~= "SUCCESS" then
    return http.v2_error(400, "MALFORMED_PARAMETER", "export '" .. spec.owner .. "' is " .. tostring(status) .. "; files can only be downloaded once it is SUCCESS")
  end
  return http.send(307, "", { Location = M.storage_url(spec), ["Cache-Control"] = "no-store" })
end

local ROUTES = {
  ["profiles/export"] = { POST = create },
  ["exports/view"] = { GET = view },
  ["exports/list"] = { GET = list },
  ["exports/download"] = { GET = download },
}

function M.handle(version, rest)
  local route = ROUTES[rest]
  if not route then return http.v2_error(404, "ROUTE_NOT_FOUND", "no such route: /" .. version .. "/" .. rest) end
  local method = ngx.req.get_method()
  local fn = route[method] or (method == "HEAD" and route.GET)
  if not fn then
    local allowed = next(route)
    return http.v2_error(405, "METHOD_NOT_ALLOWED", method .. " is not allowed on /" .. version .. "/" .. rest .. " (use " .. allowed .. ")", { Allow = allowed })
  end
  auth.v2()
  return fn(version)
end

M.encode_cursor = encode_cursor
M.decode_cursor = decode_cursor

return M
