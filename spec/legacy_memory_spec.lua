-- Streaming: a 50 MB legacy CSV read through legacy.rows (tables keyed by
-- the header) in a child lua5.4 process whose peak resident memory (VmHWM,
-- read from /proc/self/status at the end) must stay under 40 MB.
local mock = require("spec.support.mock")

local ROWS = 500000                 -- about 107 bytes a row: 53 MB
local LIMIT_KB = 40 * 1024

local CHILD = [[
local batchexport = require("batchexport")
local c = assert(batchexport.new({ rest_key = os.getenv("BATCH_REST_KEY"), api_key = os.getenv("BATCH_API_KEY"),
  base_url = os.getenv("MOCK_API_URL") }))
local rows, bytes, opened = 0, 0, 0
for row in c.legacy.rows(os.getenv("REQUEST_ID")) do
  rows = rows + 1
  for _, v in pairs(row) do bytes = bytes + #v end
  if row.event_type == "push_opened" then opened = opened + 1 end
end
local f = assert(io.open("/proc/self/status"))
local status = f:read("a")
f:close()
print(string.format("rows=%d bytes=%d opened=%d hwm_kb=%s lua_kb=%d", rows, bytes, opened,
  status:match("VmHWM:%s*(%d+)"), math.floor(collectgarbage("count"))))
]]

local function repo_root()
  local p = assert(io.popen("pwd"))
  local d = p:read("l")
  p:close()
  return d
end

describe("legacy.rows memory", function()
  local m
  setup(function() m = mock.start({ workers = 1 }) end)
  teardown(function() if m then m:stop() end end)

  it("streams a 50 MB CSV with peak RSS under 40 MB", function()
    local r = m:create_legacy({ kind = "campaign_events", rows = ROWS, status = "SUCCESS" })
    local size = select(2, m:file_sha256("lfile_" .. r.id))
    assert.is_true(size >= 50 * 1024 * 1024, "the file is " .. size .. " bytes")

    local script = os.tmpname()
    local f = assert(io.open(script, "wb"))
    f:write(CHILD)
    f:close()
    local root = repo_root()
    -- The child runs the normal build, without a sanitizer runtime the
    -- parent may have preloaded (its shadow memory would count as RSS).
    local cmd = table.concat({
      "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS",
      "LUA_PATH=" .. mock.sh_quote(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"),
      "LUA_CPATH=" .. mock.sh_quote(root .. "/build/?.so;;"),
      "MOCK_API_URL=" .. mock.sh_quote(m.api_url),
      "BATCH_REST_KEY=" .. mock.sh_quote(m.rest_key),
      "BATCH_API_KEY=" .. mock.sh_quote(m.api_key),
      "REQUEST_ID=" .. mock.sh_quote(r.id),
      "lua5.4", mock.sh_quote(script), "2>&1",
    }, " ")
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    local ok = p:close()
    os.remove(script)
    assert.is_true(ok, out)
    local rows, bytes, hwm = out:match("rows=(%d+) bytes=(%d+) opened=%d+ hwm_kb=(%d+)")
    assert.truthy(rows, out)
    print("\n  legacy.rows, " .. size .. " bytes: " .. out:gsub("\n$", ""))
    assert.equal(ROWS, tonumber(rows))
    assert.is_true(tonumber(bytes) > size * 0.8)
    assert.is_true(tonumber(hwm) < LIMIT_KB, "peak RSS " .. hwm .. " kB")
  end)
end)
