-- The legacy 1.0 Export API of the mock, with plain HTTP.
local mock = require("spec.support.mock")
local cjson = require("cjson")

local m

setup(function() m = mock.start({ legacy_history = 12 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

local function decode(status, headers, body)
  local ok, v = pcall(cjson.decode, body)
  return status, ok and v or body, headers
end

local function past(days)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(m:now() - days * 86400))
end

local ROUTES = {
  { "campaign/CAMPAIGN_TOKEN/ids", "campaign_ids", { "push_sent", "push_open", "push_error" },
    "install_id;custom_id;advertising_id;event_type" },
  { "campaign/CAMPAIGN_TOKEN/events", "campaign_events", { "push_sent", "push_open" },
    "install_id;custom_id;advertising_id;event_date;event_type" },
  { "transactional/GROUP_ID/ids", "transactional_ids", { "push_error" },
    "install_id;custom_id;advertising_id;event_type" },
  { "transactional/GROUP_ID/events", "transactional_events", { "push_sent" },
    "install_id;custom_id;advertising_id;event_date;event_type;transactional_token" },
  { "in-app-campaign/CAMPAIGN_TOKEN/ids", "inapp_ids", { "inapp_shown", "inapp_clicked", "inapp_closed" },
    "install_id;custom_id;advertising_id;event_type" },
  { "in-app-campaign/CAMPAIGN_TOKEN/events", "inapp_events", { "inapp_shown", "inapp_clicked" },
    "install_id;custom_id;advertising_id;event_date;event_type;cta;cta_position" },
  { "reachability/events", "reachability", nil,
    "install_id;custom_id;advertising_id;event_date;event_type;is_reachable;is_optin;has_custom_id" },
  { "userbase", "userbase", nil,
    "install_id;custom_id;advertising_id;is_optin_push;install_date;last_start_date;smart_segment" },
}

local function body_for(route, overrides)
  local b = { ids = { "install_id", "custom_id", "advertising_id" } }
  if route[2] ~= "userbase" then b.from = past(7); b.to = "now" end
  if route[3] then b.events = route[3] end
  for k, v in pairs(overrides or {}) do b[k] = v end
  return b
end

-- split a ;-separated line honouring quoted fields
local function split_csv(line)
  local out, i, field, inq = {}, 1, {}, false
  while i <= #line do
    local c = line:sub(i, i)
    if inq then
      if c == '"' and line:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1
      elseif c == '"' then inq = false
      else field[#field + 1] = c end
    elseif c == '"' then inq = true
    elseif c == ";" then out[#out + 1] = table.concat(field); field = {}
    else field[#field + 1] = c end
    i = i + 1
  end
  out[#out + 1] = table.concat(field)
  return out
end

describe("legacy create", function()
  it("accepts all eight routes with 202 {requestId} and serves each kind's CSV columns", function()
    local quoted_semicolon, empty_field = false, false
    for _, route in ipairs(ROUTES) do
      m:legacy_plan({ rows = 120 })
      local body = body_for(route)
      local status, r = decode(m:legacy("POST", route[1], body))
      assert.equal(202, status, route[1])
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", r.requestId)
      m:advance(50)                 -- past the whole lifecycle, on the mock clock
      local s2, st = decode(m:legacy("GET", "request/" .. r.requestId))
      assert.equal(200, s2)
      assert.equal("SUCCESS", st.status)
      assert.equal(r.requestId, st.id)
      assert.matches("/export/" .. route[1]:gsub("%-", "%%-") .. "$", st.uri)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", st.request_date)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", st.completion_date)
      assert.equal(cjson.null, st.error_msg)
      assert.same(body, st.request)
      assert.matches("^" .. m.api_url:gsub("%p", "%%%0") .. "/1%.0/" .. m.api_key .. "/export/request/" .. r.requestId:gsub("%-", "%%-") .. "/results/.+%.csv$", st.file_url)
      local s3, h3 = m:legacy("GET", st.file_url:match("/export/(.*)$"))
      assert.equal(302, s3)
      assert.equal(m.storage_url, h3.location:sub(1, #m.storage_url))
      local s4, h4, csv = mock.request({ url = h3.location })
      assert.equal(200, s4)
      assert.matches("^text/csv", h4["content-type"])
      local lines = {}
      for line in csv:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
      assert.equal(route[4], lines[1], route[2])
      assert.equal(121, #lines)
      local ncols = #split_csv(lines[1])
      for i = 2, #lines do
        local f = split_csv(lines[i])
        assert.equal(ncols, #f, lines[i])
        if lines[i]:find('"[^"]*;[^"]*"') then quoted_semicolon = true end
        if lines[i]:find(";;") or lines[i]:find(";$") then empty_field = true end
        if route[3] and route[2] ~= "reachability" then
          local et = f[route[4]:find("event_date") and 5 or 4]
          local ok = false
          for _, e in ipairs(route[3]) do if et == e or et == e .. "ed" then ok = true end end
          assert.truthy(ok, "event " .. tostring(et) .. " not requested")
        end
      end
    end
    assert.truthy(quoted_semicolon, "no quoted field with ';'")
    assert.truthy(empty_field, "no empty field")
  end)

  it("writes only the id columns that were asked for", function()
    local route = ROUTES[2]
    local _, r = decode(m:legacy("POST", route[1], body_for(route, { ids = { "custom_id" } })))
    m:advance(50)                   -- past the whole lifecycle, on the mock clock
    local _, st = decode(m:legacy("GET", "request/" .. r.requestId))
    local _, h = m:legacy("GET", st.file_url:match("/export/(.*)$"))
    local _, _, csv = mock.request({ url = h.location })
    assert.equal("custom_id;event_date;event_type", csv:match("^[^\n]*"))
  end)

  local cases = {
    { 1, { events = { "inapp_shown" } }, "MALFORMED_PARAMETER", 31, "events" },
    { 5, { events = { "push_sent" } }, "MALFORMED_PARAMETER", 31, "events" },
    { 2, { events = {} }, "MALFORMED_PARAMETER", 31, "events" },
    { 2, { events = false }, "MISSING_PARAMETER", 30, "events" },
    { 2, { from = "2024-01-01" }, "MALFORMED_PARAMETER", 31, "from" },
    { 2, { from = "2024-01-01T00:00:00Z" }, "MALFORMED_PARAMETER", 31, "from" },
    { 2, { to = "2024-13-01T00:00:00" }, "MALFORMED_PARAMETER", 31, "to" },
    { 2, { from = false }, "MISSING_PARAMETER", 30, "from" },
    { 2, { ids = false }, "MISSING_PARAMETER", 30, "ids" },
    { 2, { ids = { "email" } }, "MALFORMED_PARAMETER", 31, "ids" },
    { 7, { events = { "push_sent" } }, "MALFORMED_PARAMETER", 31, "events" },
    { 8, { from = "now" }, "MALFORMED_PARAMETER", 31, "from" },
    { 2, "FROM_AFTER_TO", "MALFORMED_PARAMETER", 31, "from" },
  }

  it("rejects bad input with the documented HTTP status and Batch code", function()
    for _, c in ipairs(cases) do
      local route = ROUTES[c[1]]
      local overrides = c[2]
      if overrides == "FROM_AFTER_TO" then overrides = { from = past(1), to = past(2) } end
      local body = body_for(route)
      for k, v in pairs(overrides) do if v == false then body[k] = nil else body[k] = v end end
      local text = cjson.encode(body):gsub('"events":{}', '"events":[]')
      local status, e = decode(m:legacy("POST", route[1], text))
      assert.equal(400, status, text)
      assert.equal(c[3], e.error.name, text)
      assert.equal(c[4], e.error.code, text)
      assert.matches(c[5], e.error.message, nil, text)
    end
    local status, e = decode(m:legacy("POST", "userbase", '{"ids":['))
    assert.equal(400, status)
    assert.equal("MALFORMED_JSON_BODY", e.error.name)
    assert.equal(32, e.error.code)
    status, e = decode(m:legacy("POST", "nope/route"))
    assert.equal(404, status)
    assert.equal("ROUTE_NOT_FOUND", e.error.name)
    assert.equal(20, e.error.code)
  end)

  it("checks the REST key header and the API key in the path (401, code 10)", function()
    local body = cjson.encode(body_for(ROUTES[8]))
    local status, e = decode(mock.request({ method = "POST", url = m.api_url .. "/1.0/" .. m.api_key .. "/export/userbase",
      headers = { ["content-type"] = "application/json" }, body = body }))
    assert.equal(401, status)
    assert.equal("AUTHENTICATION_INVALID", e.error.name)
    assert.equal(10, e.error.code)
    status = decode(mock.request({ method = "POST", url = m.api_url .. "/1.0/" .. m.api_key .. "/export/userbase",
      headers = { ["content-type"] = "application/json", authorization = "Bearer " .. m.rest_key }, body = body }))
    assert.equal(401, status)
    status = decode(mock.request({ method = "POST", url = m.api_url .. "/1.0/WRONGKEY/export/userbase",
      headers = { ["content-type"] = "application/json", ["x-authorization"] = m.rest_key }, body = body }))
    assert.equal(401, status)
    status = decode(m:legacy("GET", "request/" .. m:control("GET", "/_mock/legacy/requests").ids[1], nil,
      { ["x-authorization"] = "wrong" }))
    assert.equal(401, status)
  end)

  it("answers 409 while the same export is in flight, 202 once it is done", function()
    local route = ROUTES[2]
    local body = body_for(route)
    local s1 = decode(m:legacy("POST", route[1], body))
    assert.equal(202, s1)
    local s2, e = decode(m:legacy("POST", route[1], body))
    assert.equal(409, s2)
    assert.is_string(e.error.message)
    -- a different body is another export
    local s3 = decode(m:legacy("POST", route[1], body_for(route, { ids = { "custom_id" } })))
    assert.equal(202, s3)
    m:advance(60)
    local s4 = decode(m:legacy("POST", route[1], body))
    assert.equal(202, s4)
  end)

  it("sees the same body with its keys in another order as the same export", function()
    local a = '{"ids":["install_id"],"from":"now","to":"now","events":["push_sent"]}'
    local b = '{"to":"now","events":["push_sent"],"ids":["install_id"],"from":"now"}'
    assert.equal(202, (decode(m:legacy("POST", "campaign/tok1/ids", a))))
    assert.equal(409, (decode(m:legacy("POST", "campaign/tok1/ids", b))))
  end)
end)

describe("legacy status", function()
  it("goes CREATED -> PENDING -> SUCCESS on the clock", function()
    local _, r = decode(m:legacy("POST", "userbase", { ids = { "custom_id" } }))
    local function st() local _, v = decode(m:legacy("GET", "request/" .. r.requestId)) return v end
    assert.equal("CREATED", st().status)
    assert.equal(cjson.null, st().file_url)
    m:advance(2.5)
    assert.equal("PENDING", st().status)
    m:advance(14)
    assert.equal("SUCCESS", st().status)
    -- the CSV expires after 30 days, the request is gone after 6 months
    m:advance(31 * 86400)
    local v = st()
    assert.equal("EXPIRED", v.status)
    local s = m:legacy("GET", "request/" .. r.requestId .. "/results/" .. "export_userbase_" .. r.requestId:sub(1, 8) .. ".csv")
    assert.equal(404, s)
    m:advance(160 * 86400)
    assert.equal(404, (m:legacy("GET", "request/" .. r.requestId)))
  end)

  it("shows ERROR with error_msg and EXPIRED when the scenario says so", function()
    m:legacy_plan({ outcome = "ERROR", error_msg = "Campaign not found" })
    m:legacy_plan({ outcome = "EXPIRED" })
    local _, a = decode(m:legacy("POST", "campaign/tok1/ids", body_for(ROUTES[1])))
    local _, b = decode(m:legacy("POST", "campaign/tok2/ids", body_for(ROUTES[1])))
    m:advance(50)                   -- past the whole lifecycle, on the mock clock
    local _, va = decode(m:legacy("GET", "request/" .. a.requestId))
    local _, vb = decode(m:legacy("GET", "request/" .. b.requestId))
    assert.equal("ERROR", va.status)
    assert.equal("Campaign not found", va.error_msg)
    assert.equal(cjson.null, va.file_url)
    assert.equal("EXPIRED", vb.status)
  end)

  it("control API creates requests in every status; history has several", function()
    for _, st in ipairs({ "CREATED", "PENDING", "SUCCESS", "ERROR", "EXPIRED" }) do
      local r = m:create_legacy({ kind = "inapp_events", status = st, rows = 5 })
      assert.equal(st, r.status)
      local _, v = decode(m:legacy("GET", "request/" .. r.id))
      assert.equal(st, v.status)
      if st == "ERROR" then assert.is_string(v.error_msg) end
      if st == "SUCCESS" then assert.is_string(v.file_url) end
    end
    local seen = {}
    for _, id in ipairs(m:control("GET", "/_mock/legacy/requests").ids) do
      local _, v = decode(m:legacy("GET", "request/" .. id))
      seen[v.status] = true
    end
    for _, st in ipairs({ "CREATED", "PENDING", "SUCCESS", "ERROR", "EXPIRED" }) do assert.truthy(seen[st], st) end
  end)

  it("404s an unknown request with the legacy error shape", function()
    local status, e = decode(m:legacy("GET", "request/00000000-0000-4000-8000-000000000000"))
    assert.equal(404, status)
    assert.equal(20, e.error.code)
  end)
end)
