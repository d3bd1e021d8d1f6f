-- bench/memory.lua EXPORT_ID: streams every record of the export through
-- client.exports.records and reports this process's peak resident memory
-- (VmHWM from /proc/self/status): once the client is made, and at the end.
local common = require("bench.common")
local id = assert(arg[1], "export id")
local client = common.client()
local before = common.vmhwm_kb()
local n = 0
for _ in client.exports.records(id) do n = n + 1 end
common.report({ records = n, hwm_before_kb = before })
