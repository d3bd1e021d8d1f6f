-- bench/values_floor.lua PATH: the floor of `values` on one thread. The
-- NDJSON file is read and pre-scanned first (bench/values_floor.c, built by
-- bench/run.sh), then timed alone: the `for` loop over what the library's
-- values iterator gives (the record number and two strings a record),
-- pushed by C with no network, ring or decoding left. Whatever the library
-- does, its values loop cannot take less than this plus its receive.
local common = require("bench.common")
local floor = require("values_floor")
local path = assert(arg[1], "path")
local t0 = common.now()
floor.load(path, '"custom_id":', '"$email_address":')
local t_loop = common.now()
local n = 0
for _ in floor.iter do n = n + 1 end
local t_end = common.now()
common.report({ records = n, seconds = string.format("%.4f", t_end - t0),
  loop_seconds = string.format("%.4f", t_end - t_loop) })
