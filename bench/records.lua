-- bench/records.lua EXPORT_ID: every record of the export, streamed from
-- the mock through client.exports.records (libcurl -> C splitter -> cjson
-- -> null/integer normalisation).
local common = require("bench.common")
local id = assert(arg[1], "export id")
local t0 = common.now()
local client = common.client()
local n = 0
for _ in client.exports.records(id) do n = n + 1 end
common.report({ records = n, seconds = string.format("%.4f", common.now() - t0) })
