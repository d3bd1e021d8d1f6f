-- Tests for batchexport.validate.
-- Run: LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted spec/validate_spec.lua

local validate = require("batchexport.validate")
local h = require("spec.support.helpers")

-- 2024-03-01T00:00:00Z; the 90-day lookback starts at 2023-12-02T00:00:00Z.
local NOW = 1709251200
local LOOKBACK_START = NOW - 90 * 86400
local OPTS = { now = NOW }

local EVENT_LIST = "email_bounced, email_click, email_delivered, email_open, email_sent, "
  .. "email_spam_complaint, email_unsubscribed, sms_sent, sms_bounced, sms_delivered, "
  .. "sms_unsubscribed, push_sent, push_bounced, push_open"
local KIND_LIST = "campaign_ids, campaign_events, transactional_ids, transactional_events, "
  .. "inapp_ids, inapp_events, reachability, userbase"
local RFC_MSG = "must be an RFC 3339 date-time (e.g. 2024-02-28T16:28:42Z)"
local TO_MSG = 'must be "now" or an RFC 3339 date-time (e.g. 2024-02-28T16:28:42Z)'
local LEGACY_DATE_MSG = 'must be "now" or a UTC date-time as YYYY-MM-ddTHH:mm:ss (e.g. 2019-08-14T22:00:00)'

local copy = h.deepcopy

-- a copy of `base` with `changes` applied; the value `NIL` removes a field
local NIL = {}
local function with(base, changes)
  local c = copy(base)
  for k, v in pairs(changes) do
    if v == NIL then c[k] = nil else c[k] = v end
  end
  return c
end

local function problems_of(ok, problems)
  assert.is_nil(ok)
  assert.is_table(problems)
  return problems
end

local function v2(body, opts) return validate.export_request(body, opts or OPTS) end
local function legacy(kind, params, opts) return validate.legacy_request(kind, params, opts or OPTS) end

local ATTR = {
  export_type = "ATTRIBUTES",
  attributes = { "$email_address", "firstname" },
  identifiers = { "custom_id" },
}
local EVT = {
  export_type = "EVENTS",
  from = "2024-02-01T00:00:00Z",
  to = "now",
  events = { "push_open" },
}

describe("validate.parse_rfc3339", function()
  local p = validate.parse_rfc3339

  it("converts UTC date-times to unix seconds", function()
    assert.are.equal(0, p("1970-01-01T00:00:00Z"))
    assert.are.equal(946684800, p("2000-01-01T00:00:00Z"))
    assert.are.equal(1709164800, p("2024-02-29T00:00:00Z"))
    assert.are.equal(1709217722, p("2024-02-29T14:42:02Z"))
    assert.are.equal(2147483647, p("2038-01-19T03:14:07Z"))
    assert.are.equal(-1, p("1969-12-31T23:59:59Z"))
    assert.are.equal(253402300799, p("9999-12-31T23:59:59Z"))
  end)

  it("agrees with the C library's UTC calendar on many instants", function()
    local t = -2208988800 -- 1900-01-01
    local step = 86400 * 37 + 3671
    while t < 4102444800 do -- 2100-01-01
      local s = os.date("!%Y-%m-%dT%H:%M:%SZ", t)
      assert.are.equal(t, p(s), s)
      t = t + step
    end
  end)

  it("applies +hh:mm and -hh:mm offsets", function()
    assert.are.equal(NOW - 3600, p("2024-03-01T00:00:00+01:00"))
    assert.are.equal(NOW + 5 * 3600 + 30 * 60, p("2024-03-01T00:00:00-05:30"))
    assert.are.equal(NOW, p("2024-02-29T19:00:00-05:00"))
    assert.are.equal(NOW, p("2024-03-01T00:00:00+00:00"))
    assert.are.equal(NOW, p("2024-03-01T00:00:00-00:00"))
    assert.are.equal(NOW, p("2024-03-01T23:59:00+23:59"))
  end)

  it("keeps fractional seconds", function()
    assert.are.equal(NOW + 0.5, p("2024-03-01T00:00:00.5Z"))
    assert.are.equal(NOW + 0.25 - 3600, p("2024-03-01T00:00:00.250+01:00"))
    assert.is_true(math.abs(p("2024-03-01T00:00:00.123456789Z") - (NOW + 0.123456789)) < 1e-6)
    assert.are.equal(NOW, p("2024-03-01T00:00:00.000Z"))
  end)

  it("accepts lowercase t and z (RFC 3339 section 5.6)", function()
    assert.are.equal(NOW, p("2024-03-01t00:00:00z"))
  end)

  it("handles leap years", function()
    assert.are.equal(951782400, p("2000-02-29T00:00:00Z")) -- divisible by 400
    assert.is_number(p("2024-02-29T12:00:00Z"))
    assert.is_nil(p("2023-02-29T00:00:00Z"))
    assert.is_nil(p("1900-02-29T00:00:00Z")) -- divisible by 100, not by 400
    assert.is_nil(p("2100-02-29T00:00:00Z"))
    assert.are.equal(p("2024-03-01T00:00:00Z") - 86400, p("2024-02-29T00:00:00Z"))
    assert.are.equal(p("2023-03-01T00:00:00Z") - 86400, p("2023-02-28T00:00:00Z"))
  end)

  it("rejects invalid calendar dates and times with a reason", function()
    local cases = {
      ["2024-02-30T00:00:00Z"] = "day 30 is out of range for February 2024",
      ["2023-02-29T00:00:00Z"] = "day 29 is out of range for February 2023",
      ["2024-04-31T00:00:00Z"] = "day 31 is out of range for April 2024",
      ["2024-01-00T00:00:00Z"] = "day 00 is out of range for January 2024",
      ["2024-13-01T00:00:00Z"] = "month 13 is out of range",
      ["2024-00-01T00:00:00Z"] = "month 00 is out of range",
      ["2024-03-01T24:00:00Z"] = "hour 24 is out of range",
      ["2024-03-01T00:60:00Z"] = "minute 60 is out of range",
      ["2024-03-01T00:00:61Z"] = "second 61 is out of range",
      ["2016-12-31T23:59:60Z"] = "second 60 is out of range (leap seconds are not accepted)",
      ["2024-03-01T00:00:00+24:00"] = "offset hour 24 is out of range",
      ["2024-03-01T00:00:00+01:60"] = "offset minute 60 is out of range",
    }
    for s, reason in pairs(cases) do
      local t, err = p(s)
      assert.is_nil(t, s)
      assert.are.equal(reason, err, s)
    end
  end)

  it("rejects malformed strings", function()
    for _, s in ipairs({
      "", "now", "2024-03-01", "2024-03-01T00:00:00", "2024-03-01 00:00:00Z",
      "2024-3-01T00:00:00Z", "24-03-01T00:00:00Z", "2024-03-01T00:00Z",
      "2024-03-01T00:00:00+0100", "2024-03-01T00:00:00+01", "2024-03-01T00:00:00.Z",
      "2024-03-01T00:00:00ZZ", " 2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z ",
      "2024-03-01T00:00:00GMT", "12024-03-01T00:00:00Z", "2024-03-01T00:00:00,5Z",
    }) do
      local t, err = p(s)
      assert.is_nil(t, s)
      assert.matches("not an RFC 3339 date-time", err, 1, true)
    end
    local t, err = p(1709251200)
    assert.is_nil(t)
    assert.are.equal("expected a string, got number", err)
  end)
end)

describe("validate.parse_legacy_date", function()
  local p = validate.parse_legacy_date

  it("reads YYYY-MM-ddTHH:mm:ss as UTC", function()
    assert.are.equal(1565820000, p("2019-08-14T22:00:00"))
    assert.are.equal(NOW, p("2024-03-01T00:00:00"))
    assert.are.equal(1709164800, p("2024-02-29T00:00:00"))
    assert.are.equal(0, p("1970-01-01T00:00:00"))
  end)

  it("rejects other shapes, zones, fractions and 'now'", function()
    for _, s in ipairs({
      "now", "2019-08-14T22:00:00Z", "2019-08-14T22:00:00+00:00", "2019-08-14T22:00:00.5",
      "2019-08-14 22:00:00", "2019-08-14t22:00:00", "2019-08-14", "",
    }) do
      local t, err = p(s)
      assert.is_nil(t, s)
      assert.are.equal("not a date-time in the YYYY-MM-ddTHH:mm:ss format", err, s)
    end
  end)

  it("rejects invalid calendar dates", function()
    local t, err = p("2019-02-29T00:00:00")
    assert.is_nil(t)
    assert.are.equal("day 29 is out of range for February 2019", err)
    assert.is_nil(p("2019-13-01T00:00:00"))
    assert.is_nil(p("2019-01-01T24:00:00"))
    assert.are.equal(p("2020-03-01T00:00:00") - 86400, p("2020-02-29T00:00:00"))
  end)
end)

describe("validate tables", function()
  it("lists 19 native attributes, $city included, as a plain array", function()
    assert.are.equal(19, #validate.NATIVE_ATTRIBUTES)
    assert.are.equal("$city", validate.NATIVE_ATTRIBUTES[1])
    assert.are.equal("$topic_preferences", validate.NATIVE_ATTRIBUTES[19])
    assert.is_true(validate.export_request({ export_type = "ATTRIBUTES", attributes = validate.NATIVE_ATTRIBUTES }))
  end)

  it("lists the 14 v2 events in schema order, usable as a request value", function()
    assert.are.equal(14, #validate.EVENTS_V2)
    assert.are.equal(EVENT_LIST, table.concat(validate.EVENTS_V2, ", "))
    assert.is_true(v2(with(EVT, { events = validate.EVENTS_V2 })))
  end)

  it("lists the legacy ids and kinds", function()
    assert.are.same({ "install_id", "custom_id", "advertising_id" }, validate.LEGACY_IDS)
    assert.are.equal(KIND_LIST, table.concat(validate.LEGACY_KIND_NAMES, ", "))
  end)

  it("describes every legacy kind's route and needs", function()
    local K = validate.LEGACY_KINDS
    local expected = {
      campaign_ids = "campaign/TOK/ids",
      campaign_events = "campaign/TOK/events",
      transactional_ids = "transactional/TOK/ids",
      transactional_events = "transactional/TOK/events",
      inapp_ids = "in-app-campaign/TOK/ids",
      inapp_events = "in-app-campaign/TOK/events",
    }
    local n = 0
    for _ in pairs(K) do n = n + 1 end
    assert.are.equal(8, n)
    for kind, route in pairs(expected) do
      assert.are.equal(route, K[kind].route("TOK"), kind)
      assert.is_true(K[kind].needs_token, kind)
      assert.is_true(K[kind].needs_events, kind)
      assert.is_true(K[kind].needs_dates, kind)
      assert.are.equal(90, K[kind].lookback_days, kind)
    end
    assert.are.same({ "push_sent", "push_open", "push_error" }, K.campaign_events.event_list)
    assert.are.same({ "inapp_shown", "inapp_clicked", "inapp_closed" }, K.inapp_events.event_list)
    assert.is_true(K.campaign_ids.events.push_error)
    assert.is_nil(K.campaign_ids.events.inapp_shown)
    assert.is_true(K.transactional_events.events.push_sent)
    assert.is_true(K.inapp_ids.events.inapp_closed)
    assert.is_nil(K.inapp_ids.events.push_open)

    assert.are.equal("reachability/events", K.reachability.route)
    assert.is_false(K.reachability.needs_token)
    assert.is_false(K.reachability.needs_events)
    assert.is_nil(K.reachability.events)
    assert.is_true(K.reachability.needs_dates)
    assert.are.equal(90, K.reachability.lookback_days)

    assert.are.equal("userbase", K.userbase.route)
    assert.is_false(K.userbase.needs_token)
    assert.is_false(K.userbase.needs_events)
    assert.is_false(K.userbase.needs_dates)
    assert.is_nil(K.userbase.lookback_days)
  end)

  it("does not let changes to the public lists change what is accepted", function()
    validate.EVENTS_V2[#validate.EVENTS_V2 + 1] = "push_opened"
    validate.LEGACY_KINDS.campaign_ids.events.email_open = true
    local ok = v2(with(EVT, { events = { "push_opened" } }))
    local ok2 = legacy("campaign_ids", { token = "t", from = "now", to = "now", events = { "email_open" }, ids = { "custom_id" } })
    validate.EVENTS_V2[#validate.EVENTS_V2] = nil
    validate.LEGACY_KINDS.campaign_ids.events.email_open = nil
    assert.is_nil(ok)
    assert.is_nil(ok2)
  end)
end)

describe("validate.export_request (v2)", function()
  describe("valid bodies", function()
    local valid = {
      ["ATTRIBUTES with attributes only"] = { export_type = "ATTRIBUTES", attributes = { "$region" } },
      ["ATTRIBUTES with identifiers only"] = { export_type = "ATTRIBUTES", identifiers = { "installation_ids" } },
      ["ATTRIBUTES from seed 001"] = {
        export_type = "ATTRIBUTES",
        attributes = { "$email_address", "$email_marketing", "$sms_marketing", "firstname", "is_premium" },
        identifiers = { "custom_id", "installation_ids" },
        filter = { segment = "MY-SEGMENT-CODE" },
      },
      ["ATTRIBUTES with an empty filter"] = with(ATTR, { filter = {} }),
      ["ATTRIBUTES with every native attribute"] = with(ATTR, { attributes = copy(validate.NATIVE_ATTRIBUTES) }),
      ["ATTRIBUTES with custom names using . _ -"] = with(ATTR, { attributes = { "a.b", "c_d", "e-f", "G9" } }),
      ["EVENTS minimal"] = EVT,
      ["EVENTS with every field"] = {
        export_type = "EVENTS",
        from = "2023-12-15T08:30:00.125+01:00",
        to = "2024-02-29T23:59:59Z",
        events = copy(validate.EVENTS_V2),
        identifiers = { "custom_id", "installation_id" },
        orchestration_ids = { "orch_1", "orch_2" },
      },
      ["EVENTS with identifiers custom_id (seed 000)"] = with(EVT, { identifiers = { "custom_id" } }),
    }
    for name, body in pairs(valid) do
      it(name, function()
        local ok, problems = v2(body)
        assert.are.same({}, problems or {})
        assert.is_true(ok)
      end)
    end

    it("does not modify the body", function()
      local body = copy(EVT)
      v2(body)
      assert.are.same(EVT, body)
    end)

    it("uses os.time() when opts.now is not given", function()
      local from = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 3600)
      assert.is_true(validate.export_request(with(EVT, { from = from })))
      local old = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 91 * 86400)
      assert.are.same({ "from: is older than the 90-day lookback" },
        problems_of(validate.export_request(with(EVT, { from = old }))))
    end)
  end)

  describe("one mistake gives exactly one problem naming the field", function()
    local cases = {
      { "body not a table", "ATTRIBUTES", { "body: must be a table, got string" } },
      { "export_type missing", with(ATTR, { export_type = NIL }),
        { 'export_type: is required: "ATTRIBUTES" or "EVENTS"' } },
      { "export_type unknown", with(ATTR, { export_type = "PROFILES" }),
        { 'export_type: must be "ATTRIBUTES" or "EVENTS"' } },
      { "export_type in lower case", with(ATTR, { export_type = "attributes" }),
        { 'export_type: must be "ATTRIBUTES" or "EVENTS"' } },
      { "export_type a number", with(EVT, { export_type = 2 }),
        { 'export_type: must be "ATTRIBUTES" or "EVENTS"' } },
      { "misspelt field", { export_type = "ATTRIBUTES", atributes = { "$region" }, identifiers = { "custom_id" } },
        { 'unknown field "atributes" (did you mean "attributes"?)' } },
      { "unrelated field", with(ATTR, { colour = "red" }), { 'unknown field "colour"' } },
      { "field of the other shape", with(ATTR, { events = { "push_open" } }),
        { 'events: not allowed when export_type is "ATTRIBUTES"' } },
      { "non-string key", with(ATTR, { [1] = "x" }),
        { "body: unexpected number key 1 (field names must be strings)" } },
      { "neither attributes nor identifiers", { export_type = "ATTRIBUTES" },
        { "attributes, identifiers: at least one of them is required" } },
      { "attributes empty", with(ATTR, { attributes = {} }), { "attributes: must contain at least one item" } },
      { "attributes a string", with(ATTR, { attributes = "$region" }),
        { "attributes: must be an array of strings, got string" } },
      { "attributes an object", with(ATTR, { attributes = { name = "$region" } }),
        { "attributes: must be an array of strings, got object" } },
      { "attributes sparse", with(ATTR, { attributes = { [1] = "a", [3] = "b" } }),
        { "attributes: must be an array of strings, got table with keys other than 1..n" } },
      { "attribute empty string", with(ATTR, { attributes = { "$region", "" } }),
        { "attributes[2]: must be a non-empty string" } },
      { "attribute a number", with(ATTR, { attributes = { 7 } }),
        { "attributes[1]: must be a non-empty string, got number" } },
      { "attribute a table", with(ATTR, { attributes = { "a", { "b" } } }),
        { "attributes[2]: must be a non-empty string, got array" } },
      { "native attribute misspelt", with(ATTR, { attributes = { "$emial_address" } }),
        { 'attributes[1]: "$emial_address" is not a native attribute (did you mean "$email_address"?)' } },
      { "native attribute unknown", with(ATTR, { attributes = { "$favourite_colour" } }),
        { 'attributes[1]: "$favourite_colour" is not a native attribute; native attributes are '
          .. table.concat(validate.NATIVE_ATTRIBUTES, ", ") } },
      { "custom attribute with a space", with(ATTR, { attributes = { "first name" } }),
        { 'attributes[1]: "first name" is not a valid custom attribute name (use letters, digits, _ . -)' } },
      { "custom attribute with a slash", with(ATTR, { attributes = { "a/b" } }),
        { 'attributes[1]: "a/b" is not a valid custom attribute name (use letters, digits, _ . -)' } },
      { "attribute with a newline", with(ATTR, { attributes = { "a\nb" } }),
        { "attributes[1]: must not contain CR, LF or NUL characters" } },
      { "duplicate attribute", with(ATTR, { attributes = { "$region", "x", "$region" } }),
        { 'attributes[3]: duplicate of attributes[1] ("$region")' } },
      { "identifiers a string", with(ATTR, { identifiers = "custom_id" }),
        { "identifiers: must be an array of strings, got string" } },
      { "identifiers empty", with(ATTR, { identifiers = {} }), { "identifiers: must contain at least one item" } },
      { "identifier singular in ATTRIBUTES", with(ATTR, { identifiers = { "installation_id" } }),
        { 'identifiers[1]: "installation_id" is not one of custom_id, installation_ids' } },
      { "duplicate identifier", with(ATTR, { identifiers = { "custom_id", "custom_id" } }),
        { 'identifiers[2]: duplicate of identifiers[1] ("custom_id")' } },
      { "filter a string", with(ATTR, { filter = "SEG" }),
        { "filter: must be an object (a table with string keys), got string" } },
      { "filter an array", with(ATTR, { filter = { "SEG" } }),
        { "filter: must be an object (a table with string keys), got array" } },
      { "filter.segment empty", with(ATTR, { filter = { segment = "" } }),
        { "filter.segment: must be a non-empty string" } },
      { "filter.segment a number", with(ATTR, { filter = { segment = 12 } }),
        { "filter.segment: must be a non-empty string, got number" } },
      { "filter.segment with CR", with(ATTR, { filter = { segment = "A\rB" } }),
        { "filter.segment: must not contain CR, LF or NUL characters" } },
      { "filter with a misspelt key", with(ATTR, { filter = { segmnt = "A" } }),
        { 'filter: unknown field "segmnt" (did you mean "segment"?)' } },

      { "from missing", with(EVT, { from = NIL }), { "from: is required" } },
      { "to missing", with(EVT, { to = NIL }), { "to: is required" } },
      { "events missing", with(EVT, { events = NIL }), { "events: is required" } },
      { "from not RFC 3339", with(EVT, { from = "2024-02-01" }), { "from: " .. RFC_MSG } },
      { "from legacy format", with(EVT, { from = "2024-02-01T00:00:00" }), { "from: " .. RFC_MSG } },
      { "from 'now'", with(EVT, { from = "now" }), { "from: " .. RFC_MSG } },
      { "from a number", with(EVT, { from = 1706745600 }), { "from: " .. RFC_MSG .. ", got number" } },
      { "from Feb 30", with(EVT, { from = "2024-02-30T00:00:00Z" }),
        { 'from: invalid date-time "2024-02-30T00:00:00Z": day 30 is out of range for February 2024' } },
      { "from with NUL", with(EVT, { from = "2024-02-01T00:00:00Z\0" }),
        { "from: must not contain CR, LF or NUL characters" } },
      { "to not RFC 3339", with(EVT, { to = "tomorrow" }), { "to: " .. TO_MSG } },
      { "to 'NOW'", with(EVT, { to = "NOW" }), { "to: " .. TO_MSG } },
      { "to hour 24", with(EVT, { to = "2024-02-10T24:00:00Z" }),
        { 'to: invalid date-time "2024-02-10T24:00:00Z": hour 24 is out of range' } },
      { "from after to", with(EVT, { from = "2024-02-10T00:00:00Z", to = "2024-02-01T00:00:00Z" }),
        { "from: must be before to" } },
      { "from equal to to", with(EVT, { from = "2024-02-10T00:00:00Z", to = "2024-02-10T01:00:00+01:00" }),
        { "from: must be before to" } },
      { "from in the future with to now", with(EVT, { from = "2024-03-01T00:00:01Z" }),
        { "from: must be before to" } },
      { "from too old", with(EVT, { from = "2023-11-01T00:00:00Z" }),
        { "from: is older than the 90-day lookback" } },
      { "events empty", with(EVT, { events = {} }), { "events: must contain at least one item" } },
      { "events a string", with(EVT, { events = "push_open" }),
        { "events: must be an array of strings, got string" } },
      { "event unknown", with(EVT, { events = { "push_opened" } }),
        { 'events[1]: "push_opened" is not one of ' .. EVENT_LIST } },
      { "legacy event in v2", with(EVT, { events = { "push_open", "push_error" } }),
        { 'events[2]: "push_error" is not one of ' .. EVENT_LIST } },
      { "duplicate event", with(EVT, { events = { "email_open", "sms_sent", "email_open" } }),
        { 'events[3]: duplicate of events[1] ("email_open")' } },
      { "identifiers plural in EVENTS", with(EVT, { identifiers = { "installation_ids" } }),
        { 'identifiers[1]: "installation_ids" is not one of custom_id, installation_id' } },
      { "identifiers empty in EVENTS", with(EVT, { identifiers = {} }),
        { "identifiers: must contain at least one item" } },
      { "orchestration_ids empty", with(EVT, { orchestration_ids = {} }),
        { "orchestration_ids: must contain at least one item" } },
      { "orchestration_ids a string", with(EVT, { orchestration_ids = "o1" }),
        { "orchestration_ids: must be an array of strings, got string" } },
      { "orchestration id empty", with(EVT, { orchestration_ids = { "o1", "" } }),
        { "orchestration_ids[2]: must be a non-empty string" } },
      { "orchestration id with LF", with(EVT, { orchestration_ids = { "o1\n" } }),
        { "orchestration_ids[1]: must not contain CR, LF or NUL characters" } },
      { "attributes in EVENTS", with(EVT, { attributes = { "$region" } }),
        { 'attributes: not allowed when export_type is "EVENTS"' } },
      { "filter in EVENTS", with(EVT, { filter = { segment = "S" } }),
        { 'filter: not allowed when export_type is "EVENTS"' } },
      { "misspelt orchestration_ids", with(EVT, { orchestration_id = { "o" } }),
        { 'unknown field "orchestration_id" (did you mean "orchestration_ids"?)' } },
      { "field name with a newline is shown escaped", with(EVT, { ["x\ny"] = 1 }),
        { 'unknown field "x\\ny"' } },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        assert.are.same(case[3], problems_of(v2(case[2])))
      end)
    end

    it("reports JSON null as null when cjson is loaded", function()
      local has_cjson, cjson = pcall(require, "cjson")
      if not has_cjson then return end
      assert.are.same({ "identifiers: must be an array of strings, got null" },
        problems_of(v2(with(ATTR, { identifiers = cjson.null }))))
      assert.are.same({ "from: " .. RFC_MSG .. ", got null" },
        problems_of(v2(with(EVT, { from = cjson.null }))))
    end)
  end)

  describe("lookback boundaries with a fixed opts.now", function()
    local function from(s) return v2(with(EVT, { from = s })) end
    local OLD = { "from: is older than the 90-day lookback" }

    it("accepts from exactly at the start of the lookback", function()
      assert.are.equal(LOOKBACK_START, validate.parse_rfc3339("2023-12-02T00:00:00Z"))
      assert.is_true(from("2023-12-02T00:00:00Z"))
      assert.is_true(from("2023-12-02T01:00:00+01:00"))
      assert.is_true(from("2023-12-01T19:00:00-05:00"))
    end)

    it("reports from one second, or a fraction of one, before it", function()
      assert.are.same(OLD, problems_of(from("2023-12-01T23:59:59Z")))
      assert.are.same(OLD, problems_of(from("2023-12-01T23:59:59.999Z")))
      assert.are.same(OLD, problems_of(from("2023-12-02T00:59:59+01:00")))
    end)

    it("honours opts.lookback_days", function()
      local body = with(EVT, { from = "2024-02-20T00:00:00Z" })
      assert.is_true(v2(body, { now = NOW, lookback_days = 10 }))
      assert.are.same({ "from: is older than the 7-day lookback" },
        problems_of(v2(body, { now = NOW, lookback_days = 7 })))
    end)

    it("takes to = now from opts.now", function()
      local body = with(EVT, { from = "2024-02-29T23:00:00Z" })
      assert.is_true(v2(body, { now = NOW }))
      assert.are.same({ "from: must be before to" },
        problems_of(v2(body, { now = validate.parse_rfc3339("2024-02-29T23:00:00Z") })))
    end)

    it("does not report a to in the future", function()
      assert.is_true(v2(with(EVT, { to = "2030-01-01T00:00:00Z" })))
    end)

    it("raises on a bad opts", function()
      assert.has_error(function() validate.export_request(EVT, { now = "today" }) end)
      assert.has_error(function() validate.export_request(EVT, { now = NOW, lookback_days = -1 }) end)
      assert.has_error(function() validate.export_request(EVT, "opts") end)
    end)
  end)

  describe("several mistakes at once", function()
    it("reports every ATTRIBUTES problem, in field order, unknown fields last", function()
      local problems = problems_of(v2({
        export_type = "ATTRIBUTES",
        attributes = { "$region", "", "$nope_nope_nope", "first name", "$region" },
        identifiers = { "custom_id", "device_id" },
        filter = { segment = "", extra = true },
        atributes = { "x" },
        to = "now",
      }))
      assert.are.same({
        "attributes[2]: must be a non-empty string",
        'attributes[3]: "$nope_nope_nope" is not a native attribute; native attributes are '
          .. table.concat(validate.NATIVE_ATTRIBUTES, ", "),
        'attributes[4]: "first name" is not a valid custom attribute name (use letters, digits, _ . -)',
        'attributes[5]: duplicate of attributes[1] ("$region")',
        'identifiers[2]: "device_id" is not one of custom_id, installation_ids',
        "filter.segment: must be a non-empty string",
        'filter: unknown field "extra"',
        'unknown field "atributes" (did you mean "attributes"?)',
        'to: not allowed when export_type is "ATTRIBUTES"',
      }, problems)
    end)

    it("reports every EVENTS problem", function()
      local problems = problems_of(v2({
        export_type = "EVENTS",
        from = "2023-02-29T00:00:00Z",
        to = "yesterday",
        events = { "push_open", "push_opened", 5 },
        identifiers = "custom_id",
        orchestration_ids = {},
        frm = "x",
      }))
      assert.are.same({
        'from: invalid date-time "2023-02-29T00:00:00Z": day 29 is out of range for February 2023',
        "to: " .. TO_MSG,
        'events[2]: "push_opened" is not one of ' .. EVENT_LIST,
        "events[3]: must be a non-empty string, got number",
        "identifiers: must be an array of strings, got string",
        "orchestration_ids: must contain at least one item",
        'unknown field "frm" (did you mean "from"?)',
      }, problems)
    end)

    it("reports order and lookback together", function()
      assert.are.same({ "from: must be before to", "from: is older than the 90-day lookback" },
        problems_of(v2(with(EVT, { from = "2023-06-01T00:00:00Z", to = "2023-05-01T00:00:00Z" }))))
    end)

    it("still checks a lower-case export_type's body as that type", function()
      assert.are.same({
        'export_type: must be "ATTRIBUTES" or "EVENTS"',
        "events: must contain at least one item",
      }, problems_of(v2(with(EVT, { export_type = "events", events = {} }))))
    end)

    it("checks unknown fields against both shapes when export_type is unusable", function()
      assert.are.same({
        "export_type: is required: \"ATTRIBUTES\" or \"EVENTS\"",
        'unknown field "evnts" (did you mean "events"?)',
      }, problems_of(v2({ from = "2024-02-01T00:00:00Z", evnts = { "push_open" } })))
    end)
  end)
end)

describe("validate.legacy_request (1.0)", function()
  local PUSH = { "push_sent", "push_open", "push_error" }
  local INAPP = { "inapp_shown", "inapp_clicked", "inapp_closed" }
  local VALID = {
    campaign_ids = { token = "5bc1861d86c96c22685a6b6cbcc72", from = "2024-02-01T00:00:00", to = "now",
      events = PUSH, ids = { "install_id", "custom_id" } },
    campaign_events = { token = "camp_TOKEN-1.x~", from = "2023-12-02T00:00:00", to = "2024-02-01T00:00:00",
      events = { "push_open" }, ids = { "custom_id" } },
    transactional_ids = { token = "group-id", from = "2024-02-01T00:00:00", to = "now",
      events = { "push_sent" }, ids = { "advertising_id" } },
    transactional_events = { token = "g1", from = "now", to = "now", events = PUSH,
      ids = { "install_id", "custom_id", "advertising_id" } },
    inapp_ids = { token = "inapp1", from = "2024-02-01T00:00:00", to = "now", events = INAPP, ids = { "install_id" } },
    inapp_events = { token = "inapp1", from = "2024-02-01T00:00:00", to = "2024-02-01T00:00:00",
      events = { "inapp_clicked" }, ids = { "custom_id" } },
    reachability = { from = "2019-08-14T22:00:00", to = "now", ids = { "install_id", "custom_id" } },
    userbase = { ids = { "install_id", "custom_id", "advertising_id" } },
  }
  VALID.reachability.from = "2024-01-01T00:00:00"

  describe("every kind", function()
    for _, kind in ipairs({ "campaign_ids", "campaign_events", "transactional_ids", "transactional_events",
      "inapp_ids", "inapp_events", "reachability", "userbase" }) do
      it("accepts a valid " .. kind .. " request", function()
        local ok, problems = legacy(kind, VALID[kind])
        assert.are.same({}, problems or {})
        assert.is_true(ok)
      end)

      it("requires ids for " .. kind, function()
        assert.are.same({ "ids: is required (one or more of install_id, custom_id, advertising_id)" },
          problems_of(legacy(kind, with(VALID[kind], { ids = NIL }))))
      end)

      it("reports a params that is not a table for " .. kind, function()
        assert.are.same({ "params: must be a table, got nothing" }, problems_of(legacy(kind, nil)))
        assert.are.same({ "params: must be a table, got string" }, problems_of(legacy(kind, "ids=custom_id")))
      end)
    end
  end)

  describe("unknown kind", function()
    it("gives a single problem listing the eight kinds", function()
      assert.are.same({ 'kind: "campaign" is not one of ' .. KIND_LIST },
        problems_of(legacy("campaign", { token = 1, ids = "x" })))
      assert.are.same({ "kind: a number is not one of " .. KIND_LIST }, problems_of(legacy(3, {})))
      assert.are.same({ "kind: a nothing is not one of " .. KIND_LIST }, problems_of(legacy(nil, {})))
    end)
  end)

  describe("token", function()
    local kinds_with_token = {
      campaign_ids = "campaign token", campaign_events = "campaign token",
      transactional_ids = "group id", transactional_events = "group id",
      inapp_ids = "in-app campaign token", inapp_events = "in-app campaign token",
    }
    for kind, what in pairs(kinds_with_token) do
      it("is required for " .. kind, function()
        assert.are.same({ 'token: is required for kind "' .. kind .. '" (the ' .. what .. ")" },
          problems_of(legacy(kind, with(VALID[kind], { token = NIL }))))
      end)
    end

    for _, kind in ipairs({ "reachability", "userbase" }) do
      it("is forbidden for " .. kind, function()
        assert.are.same({ 'token: not allowed for kind "' .. kind .. '" (its route takes no token)' },
          problems_of(legacy(kind, with(VALID[kind], { token = "abc" }))))
      end)
    end

    local bad = {
      { "", "token: must be a non-empty string (the campaign token)" },
      { 42, "token: must be a non-empty string (the campaign token), got number" },
      { "a/b", "token: must contain only URL-safe characters (A-Z a-z 0-9 . _ ~ -)" },
      { "a?b=c", "token: must contain only URL-safe characters (A-Z a-z 0-9 . _ ~ -)" },
      { "a b", "token: must contain only URL-safe characters (A-Z a-z 0-9 . _ ~ -)" },
      { "a%2Fb", "token: must contain only URL-safe characters (A-Z a-z 0-9 . _ ~ -)" },
      { "caf\195\169", "token: must contain only URL-safe characters (A-Z a-z 0-9 . _ ~ -)" },
      { "..", 'token: must not be "." or ".."' },
      { ".", 'token: must not be "." or ".."' },
      { "abc\r\nX-Evil: 1", "token: must not contain CR, LF or NUL characters" },
      { "abc\0", "token: must not contain CR, LF or NUL characters" },
      { string.rep("a", 257), "token: must be at most 256 characters, got 257" },
    }
    for _, case in ipairs(bad) do
      it("rejects " .. string.format("%q", tostring(case[1])):sub(1, 30), function()
        assert.are.same({ case[2] }, problems_of(legacy("campaign_ids", with(VALID.campaign_ids, { token = case[1] }))))
      end)
    end

    it("accepts 256 characters and URL-safe punctuation", function()
      assert.is_true(legacy("campaign_ids", with(VALID.campaign_ids, { token = string.rep("a", 256) })))
      assert.is_true(legacy("campaign_ids", with(VALID.campaign_ids, { token = "A-z_0.9~" })))
      assert.is_true(legacy("campaign_ids", with(VALID.campaign_ids, { token = "..." })))
    end)
  end)

  describe("events", function()
    it("rejects in-app events for push kinds", function()
      for _, kind in ipairs({ "campaign_ids", "campaign_events", "transactional_ids", "transactional_events" }) do
        assert.are.same({ 'events[2]: "inapp_shown" is not one of push_sent, push_open, push_error' },
          problems_of(legacy(kind, with(VALID[kind], { events = { "push_sent", "inapp_shown" } }))), kind)
      end
    end)

    it("rejects push events for in-app kinds", function()
      for _, kind in ipairs({ "inapp_ids", "inapp_events" }) do
        assert.are.same({ 'events[1]: "push_open" is not one of inapp_shown, inapp_clicked, inapp_closed' },
          problems_of(legacy(kind, with(VALID[kind], { events = { "push_open" } }))), kind)
      end
    end)

    it("rejects the CSV's push_opened and v2 event names", function()
      assert.are.same({
        'events[1]: "push_opened" is not one of push_sent, push_open, push_error',
        'events[2]: "email_open" is not one of push_sent, push_open, push_error',
      }, problems_of(legacy("campaign_events", with(VALID.campaign_events, { events = { "push_opened", "email_open" } }))))
    end)

    it("is required for campaign, transactional and in-app kinds", function()
      assert.are.same({ 'events: is required for kind "campaign_ids" (one or more of push_sent, push_open, push_error)' },
        problems_of(legacy("campaign_ids", with(VALID.campaign_ids, { events = NIL }))))
      assert.are.same({ 'events: is required for kind "inapp_events" (one or more of inapp_shown, inapp_clicked, inapp_closed)' },
        problems_of(legacy("inapp_events", with(VALID.inapp_events, { events = NIL }))))
      assert.are.same({ "events: must contain at least one item" },
        problems_of(legacy("transactional_ids", with(VALID.transactional_ids, { events = {} }))))
      assert.are.same({ "events: must be an array of strings, got string" },
        problems_of(legacy("transactional_ids", with(VALID.transactional_ids, { events = "push_sent" }))))
    end)

    it("is forbidden for reachability and userbase", function()
      assert.are.same({ 'events: not allowed for kind "reachability"' },
        problems_of(legacy("reachability", with(VALID.reachability, { events = { "push_sent" } }))))
      assert.are.same({ 'events: not allowed for kind "userbase"' },
        problems_of(legacy("userbase", with(VALID.userbase, { events = { "push_sent" } }))))
    end)

    it("reports duplicates", function()
      assert.are.same({ 'events[2]: duplicate of events[1] ("push_open")' },
        problems_of(legacy("campaign_ids", with(VALID.campaign_ids, { events = { "push_open", "push_open" } }))))
    end)
  end)

  describe("ids", function()
    it("must be known, non-empty and without duplicates", function()
      assert.are.same({ 'ids[2]: "installation_id" is not one of install_id, custom_id, advertising_id' },
        problems_of(legacy("userbase", { ids = { "custom_id", "installation_id" } })))
      assert.are.same({ "ids: must contain at least one item" }, problems_of(legacy("userbase", { ids = {} })))
      assert.are.same({ 'ids[3]: duplicate of ids[1] ("custom_id")' },
        problems_of(legacy("userbase", { ids = { "custom_id", "install_id", "custom_id" } })))
      assert.are.same({ "ids: must be an array of strings, got object" },
        problems_of(legacy("userbase", { ids = { install_id = true } })))
      assert.are.same({ "ids[1]: must not contain CR, LF or NUL characters" },
        problems_of(legacy("userbase", { ids = { "custom_id\n" } })))
    end)
  end)

  describe("dates", function()
    local function camp(changes) return legacy("campaign_events", with(VALID.campaign_events, changes)) end

    it("are required for every kind but userbase", function()
      for _, kind in ipairs({ "campaign_ids", "campaign_events", "transactional_ids", "transactional_events",
        "inapp_ids", "inapp_events", "reachability" }) do
        assert.are.same({ "from: is required", "to: is required" },
          problems_of(legacy(kind, with(VALID[kind], { from = NIL, to = NIL }))), kind)
      end
    end)

    it("are forbidden for userbase", function()
      local why = 'not allowed for kind "userbase" (a userbase export is a snapshot: it takes ids alone)'
      assert.are.same({ "from: " .. why, "to: " .. why },
        problems_of(legacy("userbase", { from = "now", to = "now", ids = { "custom_id" } })))
    end)

    it("must be YYYY-MM-ddTHH:mm:ss or now", function()
      assert.are.same({ "from: " .. LEGACY_DATE_MSG }, problems_of(camp({ from = "2024-02-01" })))
      assert.are.same({ "to: " .. LEGACY_DATE_MSG }, problems_of(camp({ to = "Now" })))
      assert.are.same({ "from: " .. LEGACY_DATE_MSG .. "; no fraction or time zone: the time is UTC" },
        problems_of(camp({ from = "2024-02-01T00:00:00Z" })))
      assert.are.same({ "to: " .. LEGACY_DATE_MSG .. "; no fraction or time zone: the time is UTC" },
        problems_of(camp({ to = "2024-02-01T00:00:00+01:00" })))
      assert.are.same({ "from: " .. LEGACY_DATE_MSG .. ", got number" }, problems_of(camp({ from = 1706745600 })))
      assert.are.same({ 'from: invalid date-time "2023-02-29T00:00:00": day 29 is out of range for February 2023' },
        problems_of(camp({ from = "2023-02-29T00:00:00", to = "2023-03-01T00:00:00" })))
      assert.are.same({ "to: must not contain CR, LF or NUL characters" }, problems_of(camp({ to = "now\r\n" })))
    end)

    it("must not have from after to, but may have them equal", function()
      assert.are.same({ "from: must not be after to" },
        problems_of(camp({ from = "2024-02-01T00:00:01", to = "2024-02-01T00:00:00" })))
      assert.are.same({ "from: must not be after to" }, problems_of(camp({ from = "now", to = "2024-02-01T00:00:00" })))
      assert.is_true(camp({ from = "2024-02-01T00:00:00", to = "2024-02-01T00:00:00" }))
      assert.is_true(camp({ from = "now", to = "now" }))
    end)

    it("must start within the 90-day lookback of opts.now", function()
      assert.is_true(camp({ from = "2023-12-02T00:00:00" }))
      assert.are.same({ "from: is older than the 90-day lookback" }, problems_of(camp({ from = "2023-12-01T23:59:59" })))
      assert.are.same({ "from: is older than the 90-day lookback" },
        problems_of(legacy("reachability", with(VALID.reachability, { from = "2019-08-14T22:00:00" }))))
      assert.is_true(legacy("reachability", with(VALID.reachability, { from = "2019-08-14T22:00:00" }),
        { now = validate.parse_legacy_date("2019-09-01T00:00:00") }))
      assert.are.same({ "from: is older than the 30-day lookback" },
        problems_of(legacy("inapp_ids", with(VALID.inapp_ids, { from = "2024-01-15T00:00:00" }),
          { now = NOW, lookback_days = 30 })))
    end)
  end)

  describe("unknown fields and several mistakes at once", function()
    it("suggests near misses", function()
      assert.are.same({
        'token: is required for kind "campaign_ids" (the campaign token)',
        'unknown field "tokn" (did you mean "token"?)',
      }, problems_of(legacy("campaign_ids", with(VALID.campaign_ids, { token = NIL, tokn = "abc" }))))
      assert.are.same({ 'unknown field "event" (did you mean "events"?)' },
        problems_of(legacy("inapp_ids", with(VALID.inapp_ids, { event = { "inapp_shown" } }))))
      assert.are.same({ 'unknown field "id" (did you mean "ids"?)' },
        problems_of(legacy("userbase", { ids = { "custom_id" }, id = { "custom_id" } })))
    end)

    it("reports every problem of a bad request in a fixed order", function()
      assert.are.same({
        "token: must contain only URL-safe characters (A-Z a-z 0-9 . _ ~ -)",
        "from: " .. LEGACY_DATE_MSG .. "; no fraction or time zone: the time is UTC",
        'to: invalid date-time "2024-13-01T00:00:00": month 13 is out of range',
        'events[1]: "inapp_shown" is not one of push_sent, push_open, push_error',
        "events[2]: must be a non-empty string",
        'ids[2]: duplicate of ids[1] ("install_id")',
        'unknown field "format"',
      }, problems_of(legacy("transactional_events", {
        token = "../../userbase",
        from = "2024-02-01T00:00:00.000Z",
        to = "2024-13-01T00:00:00",
        events = { "inapp_shown", "" },
        ids = { "install_id", "install_id" },
        format = "csv",
      })))
    end)

    it("reports a userbase request that carries everything", function()
      assert.are.same({
        'ids[1]: "push_sent" is not one of install_id, custom_id, advertising_id',
        'events: not allowed for kind "userbase"',
        'from: not allowed for kind "userbase" (a userbase export is a snapshot: it takes ids alone)',
        'to: not allowed for kind "userbase" (a userbase export is a snapshot: it takes ids alone)',
        'token: not allowed for kind "userbase" (its route takes no token)',
      }, problems_of(legacy("userbase", {
        token = "t", from = "now", to = "now", events = { "push_sent" }, ids = { "push_sent" },
      })))
    end)
  end)
end)
