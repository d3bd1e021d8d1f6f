-- A resumed transfer answered 206 with a Content-Range that does not start
-- where it asked ("bytes */N", another offset, garbage): libcurl lets an
-- unreadable one through, and the bytes were appended at the wrong place, a
-- corrupt file saved under its final name with no error. Now the transfer
-- ends as a Range the server did not honour: an error, nothing kept.
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local m

local function new_client()
  return client.new(m, client.QUICK, { backoff_max = 0.02, max_attempts = 3 })
end

local tmpdir = h.tmpdir

setup(function() m = mock.start({ workers = 1 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

local BAD = { "bytes */300000", "bytes 0-199999/300000", "bytes 100001-300000/300000", "bytes=100000-299999/300000",
  "items 100000-299999/300000", "bytes 100000-99999/300000", "garbage" }

describe("a resumed download answered with a wrong Content-Range", function()
  for _, range in ipairs(BAD) do
    it("never appends its bytes: the part starts again from byte 0 and is whole: " .. range, function()
      local c = new_client()
      local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
      m:fault({ host = "storage", path = "/exports/", cut_after = 100000 })
      m:fault({ host = "storage", path = "/exports/", status = 206, body = string.rep("x", 200000),
        headers = { ["Content-Range"] = range } })
      local dir = tmpdir()
      local paths, err = c.exports.download(e, { dir = dir })
      assert.is_table(paths, tostring(err))
      assert.equal(m:file_sha256(e.files[1].id), h.sha256(paths[1]), "a corrupt file was saved")
      assert.same({ paths[1]:match("[^/]+$") }, h.ls(dir))
      -- after the cut and the refused range, a request from byte 0 (no Range)
      local plain = 0
      for _, r in ipairs(m:log().requests) do
        if r.host == "storage" and type(r.range) ~= "string" then plain = plain + 1 end
      end
      assert.equal(2, plain)
      h.rmrf(dir)
    end)
  end

  it("fails a records stream the same way, never yielding the wrong bytes", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
    local want = m:file(e.files[1].id).records
    m:fault({ host = "storage", path = "/exports/", cut_after = 100000 })
    m:fault({ host = "storage", path = "/exports/", status = 206, body = string.rep("x", 200000),
      headers = { ["Content-Range"] = "bytes */300000" } })
    local n = 0
    local ok, err = pcall(function() for _ in c.exports.records(e) do n = n + 1 end end)
    assert.is_false(ok, "the stream ended without an error after " .. n .. " of " .. want .. " records")
    assert.equal("network", err.kind)
  end)

  it("still resumes when the range is the one asked for", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
    local sha = m:file_sha256(e.files[1].id)
    m:fault({ host = "storage", path = "/exports/", cut_after = 100000 })
    local dir = tmpdir()
    local paths = assert(c.exports.download(e, { dir = dir }))
    assert.equal(sha, h.sha256(paths[1]))
    h.rmrf(dir)
  end)
end)
