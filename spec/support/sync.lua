-- What the sync specs (sync_spec: the library; sync_cli_spec: the command and
-- nginx) check of a landing folder against the mock.
local mock = require("spec.support.mock")
local cjson = require("cjson")
local h = require("spec.support.helpers")
local assert = require("luassert")   -- busted's, as in a spec file

local M = {}

M.EVENTS = { "email_open", "push_sent" }

-- An RFC 3339 UTC time, as sync writes it.
function M.stamp(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

-- The mock both sync specs run against (its clock fast enough for waits to
-- pass in a blink) and a folder of their own: m, tmp.
function M.start()
  return mock.start({ workers = 1, speed = 50, created = 1, pending = 1, running = 2 }), h.tmpdir()
end

-- A function making a new empty folder under tmp at each call.
function M.folders(tmp)
  local n = 0
  return function()
    n = n + 1
    return h.emptydir(tmp .. "/land" .. n)
  end
end

-- Every range folder's manifest, sorted by from.
function M.manifests(kind_dir)
  local out = {}
  for _, name in ipairs(h.ls(kind_dir)) do
    if name:match("^%d+T%d+Z_%d+T%d+Z$") then
      local text = h.read(kind_dir .. "/" .. name .. "/manifest.json")
      assert.is_string(text)
      local mf = cjson.decode(text)
      mf.folder = kind_dir .. "/" .. name
      out[#out + 1] = mf
    end
  end
  table.sort(out, function(a, b) return a.from < b.from end)
  return out
end

-- The ranges tile [first, last) with no gap and no overlap; each file on
-- disk is what the manifest says and what the mock served.
function M.check_landing(m, kind_dir, first, last)
  local mfs = M.manifests(kind_dir)
  assert.is_true(#mfs > 0)
  assert.equal(first, mfs[1].from)
  for i = 2, #mfs do assert.equal(mfs[i - 1].to, mfs[i].from) end
  assert.equal(last, mfs[#mfs].to)
  for _, mf in ipairs(mfs) do
    for _, f in ipairs(mf.files) do
      local path = mf.folder .. "/" .. f.name
      assert.equal(f.sha256, h.sha256(path))
      local want_sha, want_size = m:file_sha256(f.id)
      assert.equal(want_sha, f.sha256)
      assert.equal(want_size, f.size)
      assert.is_true(f.records > 0)
    end
    -- nothing half-landed beside it
  end
  for _, name in ipairs(h.ls(kind_dir)) do assert.is_nil(name:match("^%.partial")) end
  return mfs
end

-- No range was exported twice: every export the mock holds, by its
-- request's from and to.
function M.check_no_range_twice(m)
  local seen, count = {}, 0
  for _, id in ipairs(m:control("GET", "/_mock/exports").ids) do
    local st, _, text = m:v2("GET", "/exports/view?id=" .. id)
    assert.equal(200, st)
    local r = cjson.decode(text).request
    if type(r) == "table" and r.export_type == "EVENTS" and table.concat(r.events, ",") == table.concat(M.EVENTS, ",") then
      local key = r.from .. "_" .. r.to
      if seen[key] then error("range " .. key .. " exported twice: " .. seen[key] .. " and " .. id) end
      seen[key] = id
      count = count + 1
    end
  end
  local posts = 0
  for _, r in ipairs(m:log().requests) do
    if r.method == "POST" and r.path:match("/profiles/export$") then posts = posts + 1 end
  end
  return count, posts
end

return M
