-- Issue #10 item 10: a list cursor (next_from) holding a NUL byte was cut at
-- the NUL when sent back, so the wrong page came silently. The client now
-- carries every cursor with its length, and refuses one it could not send
-- back whole or take again as `from`: empty, longer than 1024 bytes, or
-- holding a control character, a space or DEL. Refused means a `decode`
-- error naming next_from, and no further request.
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local m

local LIST = "/2.11/exports/list"

local function new_client() return client.new(m, client.QUICK) end

local function list_requests()
  local out = {}
  for _, r in ipairs(m:log().requests) do
    if r.host == "api" and r.path == LIST then out[#out + 1] = r end
  end
  return out
end

-- A page of one export whose next_from is the JSON text `cursor_json`.
local function page_with(cursor_json)
  return '{"exports":[{"id":"export_1","status":"SUCCESS","files":[]}],"count":1,"has_more":true,"next_from":'
    .. cursor_json .. '}'
end

local raised = h.raised

setup(function() m = mock.start({ workers = 1 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

describe("a server cursor", function()
  for name, cursor in pairs({
    ["a NUL byte"] = [["c2Ft\u0000ZQ+/="]],
    ["a newline"] = [["c2Ft\nZQ+/="]],
    ["a space"] = [["c2Ft ZQ+/="]],
    ["a DEL"] = [["c2Ft\u007fZQ+/="]],
    ["more than 1024 bytes"] = '"' .. ("A"):rep(1025) .. '"',
  }) do
    it("holding " .. name .. " is refused by list before any request carries it", function()
      m:fault({ path = LIST, status = 200, body = page_with(cursor), times = 3 })
      local c = new_client()
      local n = 0
      local err = raised(function() for _ in c.exports.list({ limit = 1 }) do n = n + 1 end end)
      assert.equal("decode", err.kind)
      assert.matches("next_from", err.message)
      assert.equal(0, n)
      assert.equal(1, #list_requests())
    end)
  end

  it("holding a NUL byte is refused by pages too", function()
    m:fault({ path = LIST, status = 200, body = page_with([["c2Ft\u0000ZQ+/="]]) })
    local c = new_client()
    local err = raised(function() for _ in c.exports.pages({ limit = 1 }) do end end)
    assert.equal("decode", err.kind)
    assert.matches("next_from", err.message)
    assert.equal(1, #list_requests())
  end)

  it("of 1024 bytes with + / = goes back whole, percent-encoded, and pages hands it out whole", function()
    local cursor = ("c2FtZQ+/="):rep(113) .. "abcdefg"     -- 1024 bytes
    assert.equal(1024, #cursor)
    m:fault({ path = LIST, status = 200, body = page_with('"' .. cursor .. '"') })
    m:fault({ path = LIST, status = 200, body = '{"exports":[],"count":0,"has_more":false}' })
    local c = new_client()
    local pages = c.exports.pages({ limit = 1 })
    local first = pages()
    assert.equal(cursor, first.next_from)
    assert.is_false(pages().has_more)
    local reqs = list_requests()
    assert.equal(2, #reqs)
    assert.equal("limit=1&from=" .. mock.urlencode(cursor), reqs[2].query)
  end)

  it("taken back as `from` follows the same rule", function()
    local c = new_client()
    local err = raised(function() c.exports.list({ from = "c2Fu\0ZQ==" }) end)
    assert.equal("validation", err.kind)
    assert.is_nil(next(list_requests()))
    assert.has_no.errors(function() c.exports.pages({ from = ("c2FtZQ+/="):rep(100) }) end)
  end)
end)
