-- Issue #10 item 3: a whole-call `deadline` (seconds), on batchexport.new
-- and per call where a call takes options. It bounds the call: every
-- attempt, the waits between attempts (Retry-After included), resumes and
-- link refreshes. Each transfer gets at most the time left; once none is
-- left, or a wait would end past it, the call returns (an iterator raises)
-- a `timeout` error saying the deadline passed.
--
-- Every fault here would keep the call busy for STALL seconds or more (a
-- stall, a Retry-After): a client that ignores the deadline succeeds late
-- or fails otherwise, and the spec fails on that.
local batchexport = require("batchexport")
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local STALL = 20

local m, dir

local function new_client(extra) return client.new(m, client.QUICK, extra) end

local raised = h.raised

local function assert_deadline(err, seconds)
  assert.is_table(err)
  assert.equal("timeout", err.kind, tostring(err))
  assert.matches("deadline", err.message)
  assert.equal(seconds, err.deadline)
end

local listdir = h.ls

-- One mock for the file; dir, where downloads go, is not there at each start.
setup(function() m, dir = mock.start({ workers = 1 }), h.tmpname() end)
teardown(function() if m then m:stop() end h.rmrf(dir) end)
before_each(function() m:reset() h.rmrf(dir) end)

describe("the deadline option", function()
  it("is a number of seconds greater than 0, on new and per call", function()
    for _, bad in ipairs({ 0, -1, 0 / 0, math.huge, "5" }) do
      local c, err = batchexport.new({ base_url = m.api_url, deadline = bad })
      assert.is_nil(c)
      assert.equal("config", err.kind)
      assert.matches("deadline", err.message)
    end
    assert.truthy(batchexport.new({ base_url = m.api_url, deadline = 0.5 }))
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    local paths, err = c.exports.download(e, { dir = dir, deadline = 0 })
    assert.is_nil(paths)
    assert.equal("validation", err.kind)
    assert.equal("validation", raised(function() c.exports.records(e, { deadline = -1 }) end).kind)
    assert.equal("validation", raised(function() c.exports.list({ deadline = 0 / 0 }) end).kind)
    assert.equal("validation", raised(function() c.legacy.rows("x", { deadline = "1" }) end).kind)
    local s
    s, err = c.exports.wait_for(e.id, { deadline = math.huge })
    assert.is_nil(s)
    assert.equal("validation", err.kind)
  end)

  it("leaves a call that ends in time alone", function()
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 100000 })
    local c = new_client({ deadline = 60 })
    local n = 0
    for _ in c.exports.records(e, { deadline = 60 }) do n = n + 1 end
    assert.equal(m:file(e.files[1].id).records + m:file(e.files[2].id).records, n)
    assert.truthy(c.exports.download(e, { dir = dir, deadline = 60 }))
  end)
end)

describe("a client deadline", function()
  it("ends exports.view rather than wait for a Retry-After past it", function()
    m:fault({ path = "/2.11/exports/view", status = 503, retry_after = "30", times = 5 })
    local c = new_client({ deadline = 2 })
    local e, err = c.exports.view("export_x")
    assert.is_nil(e)
    assert_deadline(err, 2)
    assert.equal(503, err.status)
    assert.equal(1, err.attempts)
    assert.equal(503, err.last_error.status)
  end)

  it("cuts an API transfer that stalls to the time left", function()
    m:fault({ path = "/2.11/exports/view", stall = STALL })
    local c = new_client({ deadline = 1 })     -- low_speed_time stays at its 60 s
    local e, err = c.exports.view("export_x")
    assert.is_nil(e)
    assert_deadline(err, 1)
  end)

  it("ends exports.create (a POST) rather than wait for a Retry-After past it", function()
    m:fault({ path = "/2.11/profiles/export", status = 429, retry_after = "30", times = 5 })
    local c = new_client({ deadline = 1 })
    local id, err = c.exports.create({ export_type = "ATTRIBUTES", attributes = { "$language" },
      identifiers = { "custom_id" } })
    assert.is_nil(id)
    assert_deadline(err, 1)
    assert.equal(429, err.status)
  end)

  it("bounds legacy.status too", function()
    m:fault({ path = "/1.0/", status = 503, retry_after = "30", times = 5 })
    local c = new_client({ deadline = 1 })
    local s, err = c.legacy.status("00000000-0000-0000-0000-000000000000")
    assert.is_nil(s)
    assert_deadline(err, 1)
    assert.is_nil(tostring(err):find(m.api_key, 1, true))
  end)
end)

describe("a per-call deadline", function()
  it("ends exports.records when storage stalls (the transfer gets only the time left)", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", stall = STALL, times = 5 })
    local c = new_client({ deadline = 600 })   -- the call's own deadline wins
    local err = raised(function() for _ in c.exports.records(e, { deadline = 1.5 }) do end end)
    assert_deadline(err, 1.5)
  end)

  it("ends exports.records that would resume for ever", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", status = 503, times = 10000 })
    local c = new_client({ max_attempts = 1000000, backoff_base = 0.05, backoff_max = 0.1 })
    local err = raised(function() for _ in c.exports.records(e.id, { deadline = 1 }) do end end)
    assert_deadline(err, 1)
    assert.equal(503, err.status)
    assert.is_true(err.attempts > 1)
  end)

  it("names the failure it followed when it ends a resume before the resume starts", function()
    -- The deadline can pass during a backoff (the failure is known there) or
    -- just before the next attempt: both must say what went wrong last.
    local request = require("batchexport.request")
    local errors = require("batchexport.errors")
    local call = request.call(new_client(), 0.005)
    local last = errors.new("http", "storage answered 503", { status = 503, attempts = 4 })
    batchexport.sleep(0.01)
    local spec, err = request.limit_spec(call, { method = "GET", url = m.storage_url .. "/f" }, last)
    assert.is_nil(spec)
    assert_deadline(err, 0.005)
    assert.equal(503, err.status)
    assert.equal(4, err.attempts)
    assert.equal(last, err.last_error)
  end)

  it("ends exports.download and leaves no file behind", function()
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 4096 })
    m:fault({ host = "storage", stall = STALL, times = 5 })
    local c = new_client()
    local paths, err = c.exports.download(e, { dir = dir, deadline = 1 })
    assert.is_nil(paths)
    assert_deadline(err, 1)
    assert.same({}, listdir(dir))
  end)

  it("ends exports.download waiting for a link past it", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ path = "/2.11/exports/download", status = 503, retry_after = "30", times = 5 })
    local c = new_client()
    local paths, err = c.exports.download(e, { dir = dir, deadline = 1 })
    assert.is_nil(paths)
    assert_deadline(err, 1)
    assert.same({}, listdir(dir))
  end)

  it("ends exports.list across its pages", function()
    m:fault({ path = "/2.11/exports/list", status = 200,
      body = '{"exports":[{"id":"export_1","status":"RUNNING"}],"count":1,"has_more":true,"next_from":"c2FtZQ+/="}' })
    m:fault({ path = "/2.11/exports/list", status = 503, retry_after = "30", times = 5 })
    local c = new_client()
    local n = 0
    local err = raised(function() for _ in c.exports.list({ limit = 1, deadline = 1 }) do n = n + 1 end end)
    assert.equal(1, n)
    assert_deadline(err, 1)
  end)

  it("ends exports.wait_for, with the last status seen", function()
    local e = m:create_export({ status = "RUNNING" })
    local c = new_client()
    local done, err = c.exports.wait_for(e.id, { interval = 0.2, deadline = 1 })
    assert.is_nil(done)
    assert_deadline(err, 1)
    assert.equal("RUNNING", err.export.status)
  end)

  it("ends exports.wait_for when its status checks keep failing", function()
    local e = m:create_export({ status = "RUNNING" })
    m:fault({ path = "/2.11/exports/view", status = 503, retry_after = "30", times = 5 })
    local c = new_client()
    local done, err = c.exports.wait_for(e.id, { interval = 0.2, deadline = 1 })
    assert.is_nil(done)
    assert_deadline(err, 1)
  end)

  it("ends legacy.rows when storage stalls", function()
    local s = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 10 })
    m:fault({ host = "storage", stall = STALL, times = 5 })
    local c = new_client()
    local err = raised(function() for _ in c.legacy.rows(s, { deadline = 1 }) do end end)
    assert_deadline(err, 1)
  end)

  it("ends legacy.download and leaves no file behind", function()
    local s = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 10 })
    m:fault({ host = "storage", stall = STALL, times = 5 })
    local c = new_client()
    local path, err = c.legacy.download(s, { path = dir .. "/out.csv", deadline = 1 })
    assert.is_nil(path)
    assert_deadline(err, 1)
    assert.same({}, listdir(dir))
  end)

  it("ends legacy.wait_for", function()
    local s = m:create_legacy({ kind = "userbase", status = "PENDING" })
    local c = new_client()
    local done, err = c.legacy.wait_for(s.id, { interval = 0.2, deadline = 1 })
    assert.is_nil(done)
    assert_deadline(err, 1)
  end)
end)
