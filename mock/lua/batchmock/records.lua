-- Realistic records for export files. Values deliberately include unicode,
-- escaped quotes, braces, backslashes and embedded newlines so client parsers
-- meet what real user data contains, and legacy CSVs carry empty fields and
-- quoted fields with `;` in them.
local json = require("batchmock.json")
local clock = require("batchmock.clock")

local quote = json.quote
local concat, fmt = table.concat, string.format

local M = {}

local FIRST = { "Zoë", "Jürgen", "Ana María", "李雷", "Søren", "Renée", "O'Brien", "Łukasz", "Фёдор",
  "Ngozi", "Aoife", "محمد", "José", "Émilie", "Kai 🚀", "Camille", "Noah", "Léa", "Hiroshi", "Priya",
  'Zoé "Zo" Martin', "Anne-Marie\nDupont", "{Bob}", "back\\slash Al" }
local TRICKY = { 'He said "hi"', "{braces} and [brackets]", "line one\nline two", "tab\tseparated",
  "back\\slash", "emoji 🎉 ok", "ünïcödé", "semi;colon", "</script>", "", "plain value", "comma, separated",
  "quote at end\"", "\\n is not a newline", "null", "{\"json\": \"in a string\"}" }
local LANGS = { "fr", "en", "de", "es", "it", "pt", "ja" }
local REGIONS = { "FR", "US", "DE", "GB", "JP", "BR", "ES" }
local TZ = { "Europe/Paris", "America/New_York", "Asia/Tokyo", "Europe/Berlin", "America/Sao_Paulo", "UTC" }
local CITIES = { "Paris", "Lyon", "São Paulo", "München", "東京", "New York", "Zürich" }
local TOPICS = { "news", "offers", "product_updates", "événements", "weekly-digest" }
local PLATFORMS = { "ios", "android", "web" }

local function ascii_slug(rng, n)
  local names = { "alice", "bob", "chloe", "david", "emma", "farid", "gina", "hugo", "ines", "jules" }
  return names[rng:next() % #names + 1] .. tostring(n)
end

local function custom_id(rng, i)
  local r = rng:next() % 20
  if r == 0 then return "ëlodie." .. i end
  if r == 1 then return 'acme "vip" ' .. i end
  if r == 2 then return "user{" .. i .. "}" end
  return fmt("user-%07d", i)
end

local function date_between(rng, a, b)
  if b <= a then return clock.rfc3339(a) end
  return clock.rfc3339(a + rng:next() % math.floor(b - a + 1))
end

local function native_value(name, rng, i, base)
  local r = rng:next() % 12
  if name == "$email_address" then
    return r == 0 and "null" or quote(ascii_slug(rng, i) .. "@example.com")
  elseif name == "$email_marketing" or name == "$sms_marketing" then
    return ({ '"subscribed"', '"unsubscribed"', "null" })[r % 3 + 1]
  elseif name == "$language" then
    return quote(LANGS[r % #LANGS + 1])
  elseif name == "$region" then
    return quote(REGIONS[r % #REGIONS + 1])
  elseif name == "$timezone" then
    return quote(TZ[r % #TZ + 1])
  elseif name == "$city" then
    return quote(CITIES[r % #CITIES + 1])
  elseif name == "$phone_number" then
    return r == 0 and "null" or quote(fmt("+336%08d", rng:next() % 100000000))
  elseif name == "$email_open_tracking_consent" then
    return r % 2 == 0 and "true" or "false"
  elseif name == "$push_subscriptions" then
    local n = r % 3
    local subs = {}
    for k = 1, n do
      subs[k] = fmt('{"installation_id":"%s","platform":"%s","subscribed":%s}',
        rng:hex(8) .. "-" .. rng:hex(4) .. "-" .. rng:hex(4) .. "-" .. rng:hex(4) .. "-" .. rng:hex(12),
        PLATFORMS[rng:next() % 3 + 1], rng:chance(0.8) and "true" or "false")
    end
    return "[" .. concat(subs, ",") .. "]"
  elseif name == "$topic_preferences" then
    local out = {}
    for k = 1, r % 4 do out[k] = quote(TOPICS[(r + k) % #TOPICS + 1]) end
    return "[" .. concat(out, ",") .. "]"
  else -- the date-valued natives
    if r == 0 then return "null" end
    return quote(date_between(rng, base - 365 * 86400, base))
  end
end

local function custom_value(name, rng, i, base)
  local n = name:lower()
  if n:match("^is_") or n:match("^has_") or n:match("premium") or n:match("optin") then
    return rng:chance(0.5) and "true" or "false"
  elseif n:match("count") or n:match("age") or n:match("score") or n:match("points") or n:match("nb") then
    return tostring(rng:next() % 1000)
  elseif n:match("date") or n:match("_at$") then
    return quote(date_between(rng, base - 400 * 86400, base))
  elseif n:match("tags") or n:match("interests") or n:match("list") then
    return "[" .. quote(TOPICS[rng:next() % #TOPICS + 1]) .. "," .. quote(TRICKY[rng:next() % #TRICKY + 1]) .. "]"
  elseif n:match("name") then
    return quote(FIRST[rng:next() % #FIRST + 1])
  end
  if rng:chance(0.1) then return "null" end
  if rng:chance(0.5) then return quote(FIRST[rng:next() % #FIRST + 1]) end
  return quote(TRICKY[rng:next() % #TRICKY + 1])
end

local function installation_id(rng)
  return rng:hex(8) .. "-" .. rng:hex(4) .. "-" .. rng:hex(4) .. "-" .. rng:hex(4) .. "-" .. rng:hex(12)
end

-- v2 record factory: returns fn(i) -> one JSON object, no trailing newline.
function M.v2(spec, rng)
  local req = spec.request
  local base = spec.created or ngx.time()
  if spec.scope == "PROFILE_EVENTS" then
    local from = clock.parse_rfc3339(req.from) or (base - 7 * 86400)
    local to = req.to == "now" and base or (clock.parse_rfc3339(req.to) or base)
    local events = req.events or { "email_open" }
    local ids = req.identifiers or { "custom_id" }
    local orch = req.orchestration_ids
    return function(i)
      local ev = events[rng:next() % #events + 1]
      local f = {}
      for _, idn in ipairs(ids) do
        if idn == "custom_id" then
          f[#f + 1] = '"custom_id":' .. quote(custom_id(rng, i))
        elseif idn == "installation_id" or idn == "installation_ids" then
          f[#f + 1] = '"installation_id":' .. quote(installation_id(rng))
        end
      end
      f[#f + 1] = '"event":' .. quote(ev)
      f[#f + 1] = '"timestamp":' .. quote(date_between(rng, from, to))
      f[#f + 1] = '"orchestration_id":' .. quote(orch and orch[rng:next() % #orch + 1] or ("orch_" .. rng:alnum(20)))
      f[#f + 1] = '"message_id":' .. quote(rng:hex(24))
      if ev:match("^email") then
        f[#f + 1] = '"email_address":' .. quote(ascii_slug(rng, i) .. "@example.com")
        if ev == "email_click" then
          f[#f + 1] = '"url":' .. quote("https://example.com/promo?utm_source=batch&id=" .. i .. "&q={x}")
        elseif ev == "email_bounced" then
          f[#f + 1] = '"bounce_type":' .. quote(rng:chance(0.5) and "hard" or "soft")
          f[#f + 1] = '"reason":' .. quote(TRICKY[rng:next() % #TRICKY + 1])
        elseif ev == "email_unsubscribed" then
          f[#f + 1] = '"unsubscribe_source":' .. quote(rng:chance(0.5) and "link" or "list-unsubscribe")
        end
      elseif ev:match("^sms") then
        f[#f + 1] = '"phone_number":' .. quote(fmt("+336%08d", rng:next() % 100000000))
      else
        f[#f + 1] = '"platform":' .. quote(PLATFORMS[rng:next() % 3 + 1])
        if ev == "push_bounced" then f[#f + 1] = '"reason":' .. quote(TRICKY[rng:next() % #TRICKY + 1]) end
      end
      return "{" .. concat(f, ",") .. "}"
    end
  end
  local ids = req.identifiers or {}
  local attrs = req.attributes or {}
  return function(i)
    local f = {}
    for _, idn in ipairs(ids) do
      if idn == "custom_id" then
        f[#f + 1] = '"custom_id":' .. (rng:chance(0.05) and "null" or quote(custom_id(rng, i)))
      elseif idn == "installation_ids" then
        local n = rng:next() % 3
        local list = {}
        for k = 1, n do list[k] = quote(installation_id(rng)) end
        f[#f + 1] = '"installation_ids":[' .. concat(list, ",") .. "]"
      end
    end
    for _, a in ipairs(attrs) do
      local v = a:sub(1, 1) == "$" and native_value(a, rng, i, base) or custom_value(a, rng, i, base)
      f[#f + 1] = quote(a) .. ":" .. v
    end
    return "{" .. concat(f, ",") .. "}"
  end
end

-- Legacy CSV --------------------------------------------------------------

local ID_ORDER = { "install_id", "custom_id", "advertising_id" }

local EXTRA = {
  campaign_ids = { "event_type" },
  transactional_ids = { "event_type" },
  inapp_ids = { "event_type" },
  campaign_events = { "event_date", "event_type" },
  transactional_events = { "event_date", "event_type", "transactional_token" },
  inapp_events = { "event_date", "event_type", "cta", "cta_position" },
  reachability = { "event_date", "event_type", "is_reachable", "is_optin", "has_custom_id" },
  userbase = { "is_optin_push", "install_date", "last_start_date", "smart_segment" },
}

function M.csv_columns(kind, ids)
  local cols, want = {}, {}
  for _, v in ipairs(ids or ID_ORDER) do want[v] = true end
  for _, v in ipairs(ID_ORDER) do if want[v] then cols[#cols + 1] = v end end
  for _, v in ipairs(EXTRA[kind]) do cols[#cols + 1] = v end
  return cols
end

local function csv_field(s)
  if s:find('[;"\n\r]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- The seeds show push_open requested but "push_opened" written in the file.
local EVENT_NAME = { push_open = "push_opened" }
local CTAS = { { "batch.CustomAction", "1" }, { "batch.dismiss", "1" }, { "batch.deeplink", "0" } }
local SEGMENTS = { "Engaged", "New", "Dormant", "Lost", "Imported" }

-- returns header line, fn(i) -> row line (both without newline)
function M.csv(spec, rng)
  local req = spec.request
  local kind = spec.legacy_kind
  local cols = M.csv_columns(kind, req.ids)
  local base = spec.created or ngx.time()
  local from = req.from and req.from ~= "now" and clock.parse_legacy(req.from) or (base - 7 * 86400)
  local to = req.to and req.to ~= "now" and clock.parse_legacy(req.to) or base
  local events = req.events
  if not events then events = { "reachability" } end
  local token = spec.token or ""
  local function row(i)
    local ev = events[rng:next() % #events + 1]
    local vals = {}
    for _, c in ipairs(cols) do
      local v
      if c == "install_id" then
        v = installation_id(rng)
      elseif c == "custom_id" then
        local r = rng:next() % 25
        if r == 0 then v = "" elseif r == 1 then v = "acme;" .. i elseif r == 2 then v = 'say "hi" ' .. i
        else v = custom_id(rng, i) end
      elseif c == "advertising_id" then
        v = rng:chance(0.3) and "" or installation_id(rng):upper()
      elseif c == "event_type" then
        v = kind == "reachability" and "reachability" or (EVENT_NAME[ev] or ev)
      elseif c == "event_date" then
        v = clock.legacy(from + rng:next() % math.max(1, math.floor(to - from)))
      elseif c == "transactional_token" then
        v = rng:hex(27)
      elseif c == "cta" or c == "cta_position" then
        if ev == "inapp_clicked" then
          local cta = CTAS[(i % #CTAS) + 1]
          v = c == "cta" and cta[1] or cta[2]
        else
          v = ""
        end
      elseif c == "is_reachable" or c == "is_optin" or c == "has_custom_id" or c == "is_optin_push" then
        v = rng:chance(0.6) and "true" or "false"
      elseif c == "install_date" then
        v = clock.legacy(base - 400 * 86400 + rng:next() % (300 * 86400))
      elseif c == "last_start_date" then
        v = clock.legacy(base - 90 * 86400 + rng:next() % (90 * 86400))
      elseif c == "smart_segment" then
        v = SEGMENTS[rng:next() % #SEGMENTS + 1]
      else
        v = ""
      end
      vals[#vals + 1] = csv_field(v)
    end
    return concat(vals, ";")
  end
  return concat(cols, ";"), row, token
end

return M
