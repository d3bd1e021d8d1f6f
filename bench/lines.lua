-- bench/lines.lua PATH: the local-disk reference for records: io.lines +
-- cjson.decode on the same file, already downloaded.
local common = require("bench.common")
local cjson = require("cjson")
local path = assert(arg[1], "path")
local t0 = common.now()
local decode, n = cjson.decode, 0
for line in io.lines(path) do
  if line ~= "" then
    decode(line)
    n = n + 1
  end
end
local seconds = string.format("%.4f", common.now() - t0)
common.report({ records = n, seconds = seconds, loop_seconds = seconds })
