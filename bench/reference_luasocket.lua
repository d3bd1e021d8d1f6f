-- bench/reference_luasocket.lua: a plain client with luasocket + cjson, the
-- way one would write it without this project.
--
--   reference_luasocket.lua records EXPORT_ID   view, 307 followed by hand
--       (no credentials to storage), body through an ltn12 sink that splits
--       lines and cjson.decodes each one as it arrives
--   reference_luasocket.lua list PASSES         exports/list over the whole
--       history, PASSES times, following next_from
local common = require("bench.common")
local http = require("socket.http")
local ltn12 = require("ltn12")
local cjson = require("cjson")

local API = common.env("MOCK_API_URL") .. "/2.11"
local AUTH = {
  authorization = "Bearer " .. common.env("BATCH_REST_KEY"),
  ["x-batch-project"] = common.env("BATCH_PROJECT_KEY"),
}

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function get_json(url)
  local chunks = {}
  local ok, status = http.request({ url = url, headers = AUTH, sink = ltn12.sink.table(chunks) })
  assert(ok and status == 200, "GET " .. url .. ": " .. tostring(status))
  return cjson.decode(table.concat(chunks))
end

local function records(id)
  local decode, find, sub = cjson.decode, string.find, string.sub
  local n, rest = 0, ""
  local function sink(chunk)
    if chunk == nil then                 -- end of body
      if rest ~= "" then decode(rest) n = n + 1 rest = "" end
      return 1
    end
    local buf, pos = rest .. chunk, 1
    while true do
      local nl = find(buf, "\n", pos, true)
      if not nl then break end
      if nl > pos then
        decode(sub(buf, pos, nl - 1))
        n = n + 1
      end
      pos = nl + 1
    end
    rest = sub(buf, pos)
    return 1
  end
  local export = get_json(API .. "/exports/view?id=" .. urlencode(id))
  table.sort(export.files, function(a, b) return a.part < b.part end)
  for _, f in ipairs(export.files) do
    local ok, status, headers = http.request({ url = API .. "/exports/download?id=" .. urlencode(f.id),
      headers = AUTH, redirect = false, sink = ltn12.sink.null() })
    assert(ok and status == 307 and headers.location, "download link: " .. tostring(status))
    ok, status = http.request({ url = headers.location, sink = sink })   -- no credentials
    assert(ok and status == 200, "storage: " .. tostring(status))
  end
  return n
end

local function list(passes)
  local exports, requests = 0, 0
  for _ = 1, passes do
    local from
    repeat
      local page = get_json(API .. "/exports/list?limit=100" .. (from and "&from=" .. urlencode(from) or ""))
      requests = requests + 1
      for _ in ipairs(page.exports) do exports = exports + 1 end
      from = page.has_more and page.next_from or nil
    until not from
  end
  return exports, requests
end

local mode = arg[1]
local t0 = common.now()
if mode == "records" then
  local n = records(assert(arg[2], "export id"))
  common.report({ records = n, seconds = string.format("%.4f", common.now() - t0) })
elseif mode == "list" then
  local exports, requests = list(tonumber(arg[2]) or 1)
  local s = common.now() - t0
  common.report({ exports = exports, requests = requests, seconds = string.format("%.4f", s),
    rps = string.format("%.1f", requests / s) })
else
  error("usage: reference_luasocket.lua records EXPORT_ID | list PASSES")
end
