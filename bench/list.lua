-- bench/list.lua PASSES: client.exports.list over the mock's whole history,
-- PASSES times with one client (so one connection pool).
local common = require("bench.common")
local passes = tonumber(arg[1]) or 1
local client = common.client()
local t0 = common.now()
local exports = 0
for _ = 1, passes do
  for _ in client.exports.list({ limit = 100 }) do exports = exports + 1 end
end
local s = common.now() - t0
common.report({ exports = exports, seconds = string.format("%.4f", s) })
