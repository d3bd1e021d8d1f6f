-- The legacy examples run as their own processes against a mock, with the
-- environment `bin/batchexport-mock start` prints: their exit codes, what they
-- print and the files they write.
local mock = require("spec.support.mock")
local cli = require("spec.support.cli")
local h = require("spec.support.helpers")


-- Runs an example; returns its exit code and everything it printed.
-- The legacy examples need no project key.
local function run(m, script, args, env_over)
  return cli.example(m, script, args, { "MOCK_API_URL", "BATCH_REST_KEY", "BATCH_API_KEY" }, env_over)
end

local tmpdir = h.tmpdir

local function first_line(path)
  local s = h.read(path)
  return s and s:match("^[^\n]*")
end

describe("legacy examples", function()
  local m, dir

  setup(function()
    m = mock.start({ workers = 1, created = 0.2, pending = 0.3, running = 0.5 })
  end)
  teardown(function() if m then m:stop() end end)
  before_each(function()
    m:reset()
    dir = tmpdir()
  end)
  after_each(function() h.rmrf(dir) end)

  local function no_secrets(out)
    assert.is_nil(out:find(m.rest_key, 1, true), out)
    assert.is_nil(out:find(m.api_key, 1, true), out)
  end

  it("legacy_campaign.lua tallies a campaign's events and saves its ids export", function()
    m:legacy_plan({ rows = 40 })
    m:legacy_plan({ rows = 25 })
    local code, out = run(m, "legacy_campaign.lua", { "spring_sale", dir, "0.1" })
    assert.equal(0, code, cli.said(code, out))
    assert.matches("created campaign_events request [%x%-]+", out)
    assert.matches("created campaign_ids request [%x%-]+", out)
    assert.matches("SUCCESS at %d%d%d%d%-", out)
    assert.matches("40 events, %d+ distinct custom ids", out)
    local sum = 0
    for n in out:gmatch("push_%a+ +(%d+)") do sum = sum + tonumber(n) end
    assert.equal(40, sum, out)
    local path = dir .. "/campaign_spring_sale_ids.csv"
    assert.matches("saved " .. path:gsub("%p", "%%%0"), out)
    assert.equal("install_id;custom_id;advertising_id;event_type", first_line(path))
    no_secrets(out)
    -- the routes it used
    local routes = {}
    for _, r in ipairs(m:log().requests) do
      if r.method == "POST" then routes[#routes + 1] = r.path:match("/export/(.*)$") end
    end
    assert.same({ "campaign/spring_sale/events", "campaign/spring_sale/ids" }, routes)
  end)

  it("legacy_inapp.lua counts clicks per call to action", function()
    m:legacy_plan({ rows = 60 })
    local code, out = run(m, "legacy_inapp.lua", { "onboarding", dir, "0.1" })
    assert.equal(0, code, cli.said(code, out))
    local shown, clicked = out:match("(%d+) shown, (%d+) clicked")
    assert.truthy(shown, out)
    local ctas = 0
    for n in out:gmatch("batch%.%a+ #%d +(%d+)") do ctas = ctas + tonumber(n) end
    assert.equal(tonumber(clicked), ctas, out)
    assert.equal("install_id;custom_id;event_date;event_type;cta;cta_position", first_line(dir .. "/inapp_onboarding.csv"))
    no_secrets(out)
  end)

  it("legacy_transactional.lua reads raw columns and tallies per transactional token", function()
    m:legacy_plan({ rows = 33 })
    local code, out = run(m, "legacy_transactional.lua", { "welcome", dir, "0.1" })
    assert.equal(0, code, cli.said(code, out))
    assert.matches("columns: install_id, event_date, event_type, transactional_token", out)
    assert.matches("33 events over %d+ transactional tokens", out)
    assert.equal("install_id;event_date;event_type;transactional_token", first_line(dir .. "/transactional_welcome.csv"))
    no_secrets(out)
  end)

  it("legacy_reachability_userbase.lua runs both exports side by side", function()
    m:legacy_plan({ rows = 70, duration = 1.5 })
    m:legacy_plan({ rows = 45, duration = 1.5 })
    local code, out = run(m, "legacy_reachability_userbase.lua", { dir, "0.1" })
    assert.equal(0, code, cli.said(code, out))
    assert.matches("reachability: 70 changes, %d+ opted in, %d+ reachable", out)
    assert.matches("userbase: 45 installs, %d+ opted in to push", out)
    local sum = 0
    for n in out:gmatch("\n  %a+ +(%d+)") do sum = sum + tonumber(n) end
    assert.equal(45, sum, out)
    assert.equal("install_id;custom_id;advertising_id;is_optin_push;install_date;last_start_date;smart_segment",
      first_line(dir .. "/userbase.csv"))
    -- the two waits overlapped: their status checks interleave in the log
    local seq = {}
    for _, r in ipairs(m:log().requests) do
      local id = r.path:match("/request/([%x%-]+)$")
      if id and seq[#seq] ~= id then seq[#seq + 1] = id end
    end
    assert.is_true(#seq >= 4, "status checks of both requests alternate")
    no_secrets(out)
  end)

  it("exit 2 with export_failed when the export fails, 2 with expired when it expired", function()
    m:legacy_plan({ outcome = "ERROR", error_msg = "Campaign token not found in this app" })
    local code, out = run(m, "legacy_inapp.lua", { "gone", dir, "0.1" })
    assert.equal(2, code, cli.said(code, out))
    assert.matches("batchexport: export_failed: legacy export request [%x%-]+ failed: Campaign token not found", out)
    m:legacy_plan({ outcome = "EXPIRED" })
    code, out = run(m, "legacy_transactional.lua", { "old", dir, "0.1" })
    assert.equal(2, code, cli.said(code, out))
    assert.matches("batchexport: expired:", out)
    m:legacy_plan({ rows = 5 })
    m:legacy_plan({ outcome = "ERROR" })
    code, out = run(m, "legacy_reachability_userbase.lua", { dir, "0.1" })
    assert.equal(2, code, cli.said(code, out))
    assert.matches("export_failed", out)
  end)

  it("exit 1 with the API's error for a wrong key, and the key shown nowhere", function()
    local code, out = run(m, "legacy_campaign.lua", { "x", dir, "0.1" }, { BATCH_REST_KEY = "not_the_key_123" })
    assert.equal(1, code, cli.said(code, out))
    assert.matches("batchexport: api 401 10: AUTHENTICATION_INVALID", out)
    assert.matches("/1%.0/%*%*%*/export/campaign/x/events", out)
    no_secrets(out)
    assert.is_nil(out:find("not_the_key_123", 1, true))
  end)
end)
