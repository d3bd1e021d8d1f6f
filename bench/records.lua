-- bench/records.lua EXPORT_ID [full|fields|values]: every record of the
-- export, streamed from the mock through the library's one-pass decoder:
--   full    client.exports.records(id)                       (tables)
--   fields  client.exports.records(id, {fields = FIELDS})     (2 fields)
--   values  client.exports.values(id, FIELDS)                 (no tables)
local common = require("bench.common")
local id = assert(arg[1], "export id")
local mode = arg[2] or "full"
-- Two fields every record of the mock's attributes exports has.
local FIELDS = { "custom_id", "$email_address" }
local t0 = common.now()
local client = common.client()
-- The loop alone (the stream's API calls included, the process start, the
-- library's loading and the client's making not): what a long-running host
-- sees. The whole process is timed from outside by bench/decoder.lua.
local t_loop = common.now()
local n = 0
if mode == "full" then
  for _ in client.exports.records(id) do n = n + 1 end
elseif mode == "fields" then
  for _ in client.exports.records(id, { fields = FIELDS }) do n = n + 1 end
elseif mode == "values" then
  for _ in client.exports.values(id, FIELDS) do n = n + 1 end
else
  error("mode: full, fields or values")
end
local t_end = common.now()
common.report({ records = n, mode = mode, seconds = string.format("%.4f", t_end - t0),
  loop_seconds = string.format("%.4f", t_end - t_loop) })
