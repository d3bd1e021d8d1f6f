-- bench/download.lua EXPORT_ID DIR: client.exports.download of every part
-- (view, download link, 307 to storage, file sink, fsync, rename).
local common = require("bench.common")
local id, dir = assert(arg[1], "export id"), assert(arg[2], "dir")
local t0 = common.now()
local client = common.client()
local paths = assert(client.exports.download(id, { dir = dir }))
local bytes = 0
for _, p in ipairs(paths) do
  local f = assert(io.open(p, "rb"))
  bytes = bytes + f:seek("end")
  f:close()
end
common.report({ bytes = bytes, files = #paths, seconds = string.format("%.4f", common.now() - t0) })
