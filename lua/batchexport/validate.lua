--- batchexport.validate: checks export create requests before any network
-- call, and reports every problem at once.
--
--   local validate = require("batchexport.validate")
--   local ok, problems = validate.export_request(body, opts)         -- v2
--   local ok, problems = validate.legacy_request(kind, params, opts) -- 1.0
--
-- Both return `true`, or `nil` plus an array of problem strings.  Each
-- problem names the field with a path (`attributes[2]: ...`,
-- `filter.segment: ...`); array indexes are 1-based, as in Lua.  Problems
-- come in a fixed order: known fields in declaration order, then unknown
-- fields sorted by name.
--
-- opts.now            unix seconds used for "now" and the lookback (default os.time())
-- opts.lookback_days  lookback window in days (default 90; for legacy kinds that
--                     have no lookback, i.e. userbase, it is ignored)
--
-- Runs on Lua 5.1 to 5.4 and LuaJIT: no `//`, no goto, no string.pack, no
-- integer-only operators; dates are converted with a days-from-civil
-- computation (os.time() on a table would use the local time zone).
--
-- Choices made where the sources are silent or disagree
-- ------------------------------------------------------
-- * Native attributes: seed 000 (list) and API.md give 18 names; seed 002
--   (view) also lists `$city`.  We accept all 19.
-- * EVENTS `identifiers`: seed 000 allows only "custom_id", seed 002 allows
--   "custom_id" and "installation_id" (singular, unlike ATTRIBUTES'
--   "installation_ids").  We accept both values of seed 002.  The schema
--   gives no minItems here; we require at least one item when the field is
--   given (an empty list asks for nothing and is surely a mistake).
-- * `filter` may be an empty table (the schema's `segment` is optional);
--   `filter.segment`, when given, must be a non-empty string.
-- * Custom attribute names: Batch documents no charset for exports; we accept
--   letters, digits, `_`, `.` and `-` and report anything else.  A name that
--   starts with `$` must be one of the native attributes.
-- * Duplicates in any array are reported (at the later position).
-- * v2 `from` must be strictly before `to` ("Must be before `to`"); `to` may be
--   "now" (meaning opts.now).  A `to` in the future is not reported (Batch
--   says nothing about it).  `from` may not be "now".
-- * Lookback: `from` exactly now - lookback_days*86400 is accepted; one second
--   earlier is reported.
-- * RFC 3339: `T`/`t` and `Z`/`z` are accepted (RFC 3339 section 5.6 allows
--   lowercase); a space instead of `T` is not; offsets must be `+hh:mm` or
--   `-hh:mm` (hh <= 23, mm <= 59); fractional seconds of any length; a leap
--   second (`:60`) is rejected, as most servers' parsers (Go's included) do;
--   calendar checks reject Feb 29 outside leap years, Feb 30, month 13,
--   hour 24 and so on.  Years are exactly four digits.
-- * Legacy dates are exactly `YYYY-MM-ddTHH:mm:ss` (uppercase T, no zone:
--   the time is UTC) or "now".  `from` may equal `to` ("from not after to").
-- * Legacy `token` is put into the URL path, so it must be 1..256 characters
--   of `[A-Za-z0-9._~-]` and must not be "." or ".." (path traversal).
-- * Any string that contains CR, LF or NUL is reported (header / URL
--   injection guard), in both APIs, and no other check is made on it.
-- * JSON null (cjson.null, dkjson.null...) where a value is expected is
--   reported as "got null"; an absent field is "is required".
-- * An export_type that differs only in case ("events") is reported, and the
--   rest of the body is still checked as that type; any other wrong
--   export_type only gets unknown fields checked (against both shapes).
-- * The public lists NATIVE_ATTRIBUTES, EVENTS_V2, LEGACY_IDS and
--   LEGACY_KIND_NAMES are plain arrays in documented order, so they can be
--   put in a request as they are (`events = validate.EVENTS_V2`).
--   LEGACY_KINDS[kind].events is a set (`events.push_open == true`), with the
--   same names in order in LEGACY_KINDS[kind].event_list.  The checks use
--   private copies: changing the public tables changes nothing.

local M = {}

local floor = math.floor
local concat = table.concat
local sort = table.sort
local fmt = string.format
local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber

---------------------------------------------------------------------------
-- the facts
---------------------------------------------------------------------------

local NATIVE_LIST = {
  "$city", "$creation_date", "$email_address", "$email_marketing", "$language",
  "$last_activity", "$last_email_marketing_click", "$last_email_marketing_open",
  "$last_email_transactional_click", "$last_email_transactional_open",
  "$last_visit_date", "$phone_number", "$region", "$sms_marketing", "$timezone",
  "$push_subscriptions", "$install_date", "$email_open_tracking_consent",
  "$topic_preferences",
}

local EVENTS_V2_LIST = {
  "email_bounced", "email_click", "email_delivered", "email_open", "email_sent",
  "email_spam_complaint", "email_unsubscribed", "sms_sent", "sms_bounced",
  "sms_delivered", "sms_unsubscribed", "push_sent", "push_bounced", "push_open",
}

local ATTR_IDENTIFIERS = { "custom_id", "installation_ids" }
local EVENT_IDENTIFIERS = { "custom_id", "installation_id" }

local LEGACY_IDS_LIST = { "install_id", "custom_id", "advertising_id" }
local PUSH_EVENTS = { "push_sent", "push_open", "push_error" }
local INAPP_EVENTS = { "inapp_shown", "inapp_clicked", "inapp_closed" }

local LEGACY_KIND_ORDER = {
  "campaign_ids", "campaign_events", "transactional_ids", "transactional_events",
  "inapp_ids", "inapp_events", "reachability", "userbase",
}

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function list_copy(list)
  local t = {}
  for i, v in ipairs(list) do t[i] = v end
  return t
end

local function route_with_token(prefix, suffix)
  return function(token)
    return prefix .. "/" .. tostring(token) .. "/" .. suffix
  end
end

-- private description of the legacy kinds
local KINDS = {
  campaign_ids = { prefix = "campaign", suffix = "ids", token_name = "campaign token", events = PUSH_EVENTS },
  campaign_events = { prefix = "campaign", suffix = "events", token_name = "campaign token", events = PUSH_EVENTS },
  transactional_ids = { prefix = "transactional", suffix = "ids", token_name = "group id", events = PUSH_EVENTS },
  transactional_events = { prefix = "transactional", suffix = "events", token_name = "group id", events = PUSH_EVENTS },
  inapp_ids = { prefix = "in-app-campaign", suffix = "ids", token_name = "in-app campaign token", events = INAPP_EVENTS },
  inapp_events = { prefix = "in-app-campaign", suffix = "events", token_name = "in-app campaign token", events = INAPP_EVENTS },
  reachability = { route = "reachability/events", dates = true, lookback = 90 },
  userbase = { route = "userbase" },
}
for _, k in pairs(KINDS) do
  if k.prefix then
    k.token = true
    k.dates = true
    k.lookback = 90
    k.events_set = set_of(k.events)
  end
end

M.NATIVE_ATTRIBUTES = list_copy(NATIVE_LIST)
M.EVENTS_V2 = list_copy(EVENTS_V2_LIST)
M.LEGACY_IDS = list_copy(LEGACY_IDS_LIST)
M.LEGACY_KIND_NAMES = list_copy(LEGACY_KIND_ORDER)
M.LEGACY_KINDS = {}
for _, name in ipairs(LEGACY_KIND_ORDER) do
  local k = KINDS[name]
  M.LEGACY_KINDS[name] = {
    name = name,
    route = k.route or route_with_token(k.prefix, k.suffix),
    needs_token = k.token == true,
    token_name = k.token_name,
    events = k.events and set_of(k.events) or nil,
    event_list = k.events and list_copy(k.events) or nil,
    needs_events = k.events ~= nil,
    needs_dates = k.dates == true,
    lookback_days = k.lookback,
  }
end

local NATIVE_SET = set_of(NATIVE_LIST)
local LEGACY_KIND_LIST_TEXT = concat(LEGACY_KIND_ORDER, ", ")
local RFC3339_EXAMPLE = "2024-02-28T16:28:42Z"
local LEGACY_EXAMPLE = "2019-08-14T22:00:00"
local CTL_MSG = "must not contain CR, LF or NUL characters"
local TOKEN_MAX = 256

---------------------------------------------------------------------------
-- small helpers
---------------------------------------------------------------------------

local NULL_MODULES = { "cjson", "cjson.safe", "dkjson", "batchexport.json" }

local function is_null(v)
  if v == nil then return false end
  for _, name in ipairs(NULL_MODULES) do
    local mod = package.loaded[name]
    if type(mod) == "table" and mod.null ~= nil and rawequal(v, mod.null) then
      return true
    end
  end
  return false
end

--- validate.is_array(t) -> true, n when t is a table whose keys are exactly
-- 1..n (n >= 0): what a JSON array decodes to; false otherwise.
local function is_array(t)
  if type(t) ~= "table" then return false end
  local count = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k ~= floor(k) then return false end
    count = count + 1
  end
  for i = 1, count do
    if t[i] == nil then return false end
  end
  return true, count
end

M.is_array = is_array

local function describe(v)
  if v == nil then return "nothing" end
  if is_null(v) then return "null" end
  local tv = type(v)
  if tv ~= "table" then return tv end
  local arr, n = is_array(v)
  if arr then
    if n == 0 then return "empty table" end
    return "array"
  end
  for k in pairs(v) do
    if type(k) ~= "string" then return "table with keys other than 1..n" end
  end
  return "object"
end

local function has_ctl(s)
  return s:find("[\r\n%z]") ~= nil
end

-- Quote a value for a message: escapes control characters, cuts long ones.
local function show(s)
  s = tostring(s)
  local cut = false
  if #s > 64 then
    s = s:sub(1, 61)
    cut = true
  end
  s = s:gsub('[%c"\\]', function(c)
    if c == "\n" then return "\\n" end
    if c == "\r" then return "\\r" end
    if c == "\t" then return "\\t" end
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return fmt("\\%d", c:byte())
  end)
  return '"' .. s .. (cut and '..."' or '"')
end

-- The nearest candidate: see batchexport.suggest.
local options = require("batchexport.options")
local suggest = require("batchexport.suggest").closest

local function add(P, path, msg)
  if path and path ~= "" then
    P[#P + 1] = path .. ": " .. msg
  else
    P[#P + 1] = msg
  end
end

local OPTIONS = {
  now = { "number", function(v) return v == v end, "expected a number (unix seconds)" },
  lookback_days = { "number", function(v) return v >= 0 end, "expected a non-negative number" },
}

-- A bad opts is the caller's mistake, not the body's: raised.
local function check_opts(opts, level)
  local checked, err = options.check(opts, OPTIONS, "validation")
  if not checked then error("batchexport.validate: opts: " .. err.message, level + 1) end
  return checked.now or os.time(), checked.lookback_days
end

---------------------------------------------------------------------------
-- dates
---------------------------------------------------------------------------

local MONTH_NAMES = {
  "January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December",
}
local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function is_leap(y)
  return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
end

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
-- days_from_civil), with floor division done by math.floor.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- Checks the calendar fields; returns unix seconds of the UTC wall time, or
-- nil and a message.
local function civil_seconds(Y, Mo, D, h, mi, s)
  local y, m, d = tonumber(Y), tonumber(Mo), tonumber(D)
  local hh, mm, ss = tonumber(h), tonumber(mi), tonumber(s)
  if m < 1 or m > 12 then return nil, fmt("month %s is out of range", Mo) end
  local dim = MONTH_DAYS[m]
  if m == 2 and is_leap(y) then dim = 29 end
  if d < 1 or d > dim then
    return nil, fmt("day %s is out of range for %s %s", D, MONTH_NAMES[m], Y)
  end
  if hh > 23 then return nil, fmt("hour %s is out of range", h) end
  if mm > 59 then return nil, fmt("minute %s is out of range", mi) end
  if ss > 59 then
    if ss == 60 then return nil, "second 60 is out of range (leap seconds are not accepted)" end
    return nil, fmt("second %s is out of range", s)
  end
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
end

local RFC3339_SYNTAX = "not an RFC 3339 date-time (expected YYYY-MM-DDTHH:MM:SS[.fraction] then Z or +hh:mm/-hh:mm)"
local LEGACY_SYNTAX = "not a date-time in the YYYY-MM-ddTHH:mm:ss format"

-- returns seconds, or nil, message, is_syntax_error
local function parse_rfc3339(s)
  if type(s) ~= "string" then return nil, "expected a string, got " .. describe(s), true end
  local Y, Mo, D, h, mi, sec, rest =
    s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not Y then return nil, RFC3339_SYNTAX, true end
  local frac = nil
  local digits, after = rest:match("^%.(%d+)(.*)$")
  if digits then
    frac = tonumber("0." .. digits)
    rest = after
  end
  local offset
  if rest == "Z" or rest == "z" then
    offset = 0
  else
    local sign, oh, om = rest:match("^([%+%-])(%d%d):(%d%d)$")
    if not sign then return nil, RFC3339_SYNTAX, true end
    local ohn, omn = tonumber(oh), tonumber(om)
    if ohn > 23 then return nil, fmt("offset hour %s is out of range", oh), false end
    if omn > 59 then return nil, fmt("offset minute %s is out of range", om), false end
    offset = (ohn * 60 + omn) * 60
    if sign == "-" then offset = -offset end
  end
  local t, err = civil_seconds(Y, Mo, D, h, mi, sec)
  if not t then return nil, err, false end
  t = t - offset
  if frac and frac ~= 0 then t = t + frac end
  return t
end

local function parse_legacy_date(s)
  if type(s) ~= "string" then return nil, "expected a string, got " .. describe(s), true end
  local Y, Mo, D, h, mi, sec = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)$")
  if not Y then return nil, LEGACY_SYNTAX, true end
  local t, err = civil_seconds(Y, Mo, D, h, mi, sec)
  if not t then return nil, err, false end
  return t
end

--- Parses an RFC 3339 date-time into unix seconds (fractional seconds kept).
-- @return number, or nil and an error message
function M.parse_rfc3339(s)
  local t, err = parse_rfc3339(s)
  if t == nil then return nil, err end
  return t
end

--- Parses a legacy 'YYYY-MM-ddTHH:mm:ss' UTC date-time into unix seconds.
-- "now" is not handled here (callers use opts.now).
-- @return number, or nil and an error message
function M.parse_legacy_date(s)
  local t, err = parse_legacy_date(s)
  if t == nil then return nil, err end
  return t
end

---------------------------------------------------------------------------
-- field checkers (each adds problems to P)
---------------------------------------------------------------------------

-- An array of strings.  spec: min (items), enum (list), check (fn(P, ipath, s)
-- returning true when it reported a problem).  Returns the array when it is
-- one, else nil.
local function check_string_array(P, path, v, spec)
  local arr, n = is_array(v)
  if not arr then
    add(P, path, "must be an array of strings, got " .. describe(v))
    return nil
  end
  if n < (spec.min or 0) then
    add(P, path, "must contain at least one item")
    return v
  end
  local enum_set = spec.enum and set_of(spec.enum)
  local seen = {}
  for i = 1, n do
    local s = v[i]
    local ip = path .. "[" .. i .. "]"
    if type(s) ~= "string" then
      add(P, ip, "must be a non-empty string, got " .. describe(s))
    elseif s == "" then
      add(P, ip, "must be a non-empty string")
    elseif has_ctl(s) then
      add(P, ip, CTL_MSG)
    elseif enum_set and not enum_set[s] then
      add(P, ip, show(s) .. " is not one of " .. concat(spec.enum, ", "))
    elseif spec.check and spec.check(P, ip, s) then -- luacheck: ignore 542
      -- the check reported it
    elseif seen[s] then
      add(P, ip, "duplicate of " .. path .. "[" .. seen[s] .. "] (" .. show(s) .. ")")
    else
      seen[s] = i
    end
  end
  return v
end

local function check_attribute_name(P, ip, s)
  if s:sub(1, 1) == "$" then
    if NATIVE_SET[s] then return false end
    local near = suggest(s, NATIVE_LIST)
    if near then
      add(P, ip, show(s) .. " is not a native attribute (did you mean " .. show(near) .. "?)")
    else
      add(P, ip, show(s) .. " is not a native attribute; native attributes are " .. concat(NATIVE_LIST, ", "))
    end
    return true
  end
  if not s:find("^[A-Za-z0-9_%.%-]+$") then
    add(P, ip, show(s) .. " is not a valid custom attribute name (use letters, digits, _ . -)")
    return true
  end
  return false
end

-- Reports fields of `t` outside `allowed` (a list).  `forbidden` maps names
-- that are known but not allowed here to a message.  `path` prefixes the
-- messages ("" at the top level).
local function check_unknown_fields(P, path, t, allowed, forbidden)
  local allowed_set = set_of(allowed)
  local names, others = {}, {}
  for k in pairs(t) do
    if type(k) == "string" then
      if not allowed_set[k] then names[#names + 1] = k end
    else
      others[#others + 1] = k
    end
  end
  sort(names)
  for _, k in ipairs(names) do
    if forbidden and forbidden[k] then
      add(P, k, forbidden[k])
    else
      local msg = "unknown field " .. show(k)
      local near = suggest(k, allowed)
      if near then msg = msg .. " (did you mean " .. show(near) .. "?)" end
      add(P, path, msg)
    end
  end
  sort(others, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(others) do
    add(P, path ~= "" and path or "body",
      "unexpected " .. type(k) .. " key " .. (type(k) == "number" and tostring(k) or show(k))
      .. " (field names must be strings)")
  end
end

-- A date field: required, a string, "now" where allowed, else what parse()
-- accepts. Returns seconds or nil. hint(v) may sharpen the message for a
-- value of the wrong form.
local function check_date_field(P, name, v, what, allow_now, now, parse, hint)
  if v == nil then
    add(P, name, "is required")
    return nil
  end
  if type(v) ~= "string" then
    add(P, name, what .. ", got " .. describe(v))
    return nil
  end
  if has_ctl(v) then
    add(P, name, CTL_MSG)
    return nil
  end
  if allow_now and v == "now" then return now end
  local t, err, syntax = parse(v)
  if t then return t end
  if syntax then
    add(P, name, what .. (hint and hint(v) or ""))
  else
    add(P, name, "invalid date-time " .. show(v) .. ": " .. err)
  end
  return nil
end

-- A v2 RFC 3339 field.
local function check_rfc3339_field(P, name, v, allow_now, now)
  local what = allow_now and ('must be "now" or an RFC 3339 date-time (e.g. ' .. RFC3339_EXAMPLE .. ")")
    or ("must be an RFC 3339 date-time (e.g. " .. RFC3339_EXAMPLE .. ")")
  return check_date_field(P, name, v, what, allow_now, now, parse_rfc3339)
end

-- A legacy YYYY-MM-ddTHH:mm:ss field.
local function legacy_hint(v)
  if v:find("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d.") then return "; no fraction or time zone: the time is UTC" end
end

local function check_legacy_date_field(P, name, v, now)
  local what = 'must be "now" or a UTC date-time as YYYY-MM-ddTHH:mm:ss (e.g. ' .. LEGACY_EXAMPLE .. ")"
  return check_date_field(P, name, v, what, true, now, parse_legacy_date, legacy_hint)
end

local function check_lookback(P, from_t, now, days)
  if from_t and days and from_t < now - days * 86400 then
    add(P, "from", "is older than the " .. fmt("%g", days) .. "-day lookback")
  end
end

---------------------------------------------------------------------------
-- v2 create bodies
---------------------------------------------------------------------------

local ATTR_FIELDS = { "export_type", "attributes", "identifiers", "filter" }
local EVENT_FIELDS = { "export_type", "from", "to", "events", "identifiers", "orchestration_ids" }
local ALL_FIELDS = { "export_type", "attributes", "identifiers", "filter", "from", "to", "events", "orchestration_ids" }

local function forbidden_for(shape_fields, other_fields, export_type)
  local mine = set_of(shape_fields)
  local f = {}
  for _, name in ipairs(other_fields) do
    if not mine[name] then
      f[name] = 'not allowed when export_type is "' .. export_type .. '"'
    end
  end
  return f
end
local ATTR_FORBIDDEN = forbidden_for(ATTR_FIELDS, EVENT_FIELDS, "ATTRIBUTES")
local EVENT_FORBIDDEN = forbidden_for(EVENT_FIELDS, ATTR_FIELDS, "EVENTS")

local function check_attributes_body(P, body)
  local attrs, idents = body.attributes, body.identifiers
  if attrs == nil and idents == nil then
    add(P, "attributes, identifiers", "at least one of them is required")
  end
  if attrs ~= nil then
    check_string_array(P, "attributes", attrs, { min = 1, check = check_attribute_name })
  end
  if idents ~= nil then
    check_string_array(P, "identifiers", idents, { min = 1, enum = ATTR_IDENTIFIERS })
  end
  local filter = body.filter
  if filter ~= nil then
    if type(filter) ~= "table" or is_null(filter) or (describe(filter) ~= "object" and describe(filter) ~= "empty table") then
      add(P, "filter", "must be an object (a table with string keys), got " .. describe(filter))
    else
      local seg = filter.segment
      if seg ~= nil then
        if type(seg) ~= "string" then
          add(P, "filter.segment", "must be a non-empty string, got " .. describe(seg))
        elseif seg == "" then
          add(P, "filter.segment", "must be a non-empty string")
        elseif has_ctl(seg) then
          add(P, "filter.segment", CTL_MSG)
        end
      end
      check_unknown_fields(P, "filter", filter, { "segment" })
    end
  end
  check_unknown_fields(P, "", body, ATTR_FIELDS, ATTR_FORBIDDEN)
end

local function check_events_body(P, body, now, lookback)
  local from_t = check_rfc3339_field(P, "from", body.from, false, now)
  local to_t = check_rfc3339_field(P, "to", body.to, true, now)
  if from_t and to_t and not (from_t < to_t) then
    add(P, "from", "must be before to")
  end
  check_lookback(P, from_t, now, lookback)
  if body.events == nil then
    add(P, "events", "is required")
  else
    check_string_array(P, "events", body.events, { min = 1, enum = EVENTS_V2_LIST })
  end
  if body.identifiers ~= nil then
    check_string_array(P, "identifiers", body.identifiers, { min = 1, enum = EVENT_IDENTIFIERS })
  end
  if body.orchestration_ids ~= nil then
    check_string_array(P, "orchestration_ids", body.orchestration_ids, { min = 1 })
  end
  check_unknown_fields(P, "", body, EVENT_FIELDS, EVENT_FORBIDDEN)
end

--- Validates a v2 create body (`POST /profiles/export`).
-- @param body the request table
-- @param opts {now = unix seconds, lookback_days = 90}
-- @return true, or nil and an array of problem strings
function M.export_request(body, opts)
  local now, lookback = check_opts(opts, 2)
  if lookback == nil then lookback = 90 end
  local P = {}
  if type(body) ~= "table" or is_null(body) then
    add(P, "body", "must be a table, got " .. describe(body))
    return nil, P
  end
  local et = body.export_type
  local shape
  if et == nil then
    add(P, "export_type", 'is required: "ATTRIBUTES" or "EVENTS"')
  elseif et == "ATTRIBUTES" or et == "EVENTS" then
    shape = et
  else
    add(P, "export_type", 'must be "ATTRIBUTES" or "EVENTS"')
    if type(et) == "string" and (et:upper() == "ATTRIBUTES" or et:upper() == "EVENTS") then
      shape = et:upper()
    end
  end
  if shape == "ATTRIBUTES" then
    check_attributes_body(P, body)
  elseif shape == "EVENTS" then
    check_events_body(P, body, now, lookback)
  else
    check_unknown_fields(P, "", body, ALL_FIELDS)
  end
  if #P > 0 then return nil, P end
  return true
end

---------------------------------------------------------------------------
-- legacy 1.0 create requests
---------------------------------------------------------------------------

local LEGACY_FIELD_ORDER = { "token", "from", "to", "events", "ids" }

--- Validates a legacy 1.0 create request.
-- @param kind one of the eight LEGACY_KINDS names
-- @param params {token =, from =, to =, events =, ids =}
-- @param opts {now = unix seconds, lookback_days = 90}
-- @return true, or nil and an array of problem strings
function M.legacy_request(kind, params, opts)
  local now, lookback_opt = check_opts(opts, 2)
  local k = type(kind) == "string" and KINDS[kind] or nil
  if not k then
    local got = type(kind) == "string" and show(kind) or ("a " .. describe(kind))
    return nil, { "kind: " .. got .. " is not one of " .. LEGACY_KIND_LIST_TEXT }
  end
  local P = {}
  if type(params) ~= "table" or is_null(params) then
    add(P, "params", "must be a table, got " .. describe(params))
    return nil, P
  end

  local allowed, forbidden = {}, {}
  local kq = '"' .. kind .. '"'

  -- token
  if k.token then
    allowed[#allowed + 1] = "token"
    local tok = params.token
    if tok == nil then
      add(P, "token", "is required for kind " .. kq .. " (the " .. k.token_name .. ")")
    elseif type(tok) ~= "string" then
      add(P, "token", "must be a non-empty string (the " .. k.token_name .. "), got " .. describe(tok))
    elseif tok == "" then
      add(P, "token", "must be a non-empty string (the " .. k.token_name .. ")")
    elseif has_ctl(tok) then
      add(P, "token", CTL_MSG)
    elseif #tok > TOKEN_MAX then
      add(P, "token", "must be at most " .. TOKEN_MAX .. " characters, got " .. #tok)
    elseif tok:find("[^A-Za-z0-9%._~%-]") then
      add(P, "token", "must contain only URL-safe characters (A-Z a-z 0-9 . _ ~ -)")
    elseif tok == "." or tok == ".." then
      add(P, "token", 'must not be "." or ".."')
    end
  else
    forbidden.token = "not allowed for kind " .. kq .. " (its route takes no token)"
  end

  -- from / to
  if k.dates then
    allowed[#allowed + 1] = "from"
    allowed[#allowed + 1] = "to"
    local from_t = check_legacy_date_field(P, "from", params.from, now)
    local to_t = check_legacy_date_field(P, "to", params.to, now)
    if from_t and to_t and from_t > to_t then
      add(P, "from", "must not be after to")
    end
    local days = k.lookback and (lookback_opt or k.lookback) or nil
    check_lookback(P, from_t, now, days)
  else
    local why = "not allowed for kind " .. kq .. " (a userbase export is a snapshot: it takes ids alone)"
    forbidden.from = why
    forbidden.to = why
  end

  -- events
  if k.events then
    allowed[#allowed + 1] = "events"
    if params.events == nil then
      add(P, "events", "is required for kind " .. kq .. " (one or more of " .. concat(k.events, ", ") .. ")")
    else
      check_string_array(P, "events", params.events, { min = 1, enum = k.events })
    end
  else
    forbidden.events = "not allowed for kind " .. kq
  end

  -- ids
  allowed[#allowed + 1] = "ids"
  if params.ids == nil then
    add(P, "ids", "is required (one or more of " .. concat(LEGACY_IDS_LIST, ", ") .. ")")
  else
    check_string_array(P, "ids", params.ids, { min = 1, enum = LEGACY_IDS_LIST })
  end

  check_unknown_fields(P, "", params, allowed, forbidden)
  if #P > 0 then return nil, P end
  return true
end

M.LEGACY_FIELDS = list_copy(LEGACY_FIELD_ORDER)

return M
