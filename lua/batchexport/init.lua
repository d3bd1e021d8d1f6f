--- batchexport: a client for Batch's Export APIs (v2 Exports and legacy 1.0).
--
--   local batchexport = require("batchexport")
--   local client = assert(batchexport.new({ rest_key = ..., project_key = ... }))
--   local id = assert(client.exports.create({ export_type = "ATTRIBUTES", attributes = { "$email_address" } }))
--
-- See README.md for the whole API.
local client = require("batchexport.client")
local errors = require("batchexport.errors")
local scheduler = require("batchexport.scheduler")

local M = {
  _VERSION = "batchexport 0.1.0",
}

M.new = client.new
M.spawn = scheduler.spawn
M.abandon = scheduler.abandon
M.step = scheduler.step
M.run = scheduler.run
M.sleep = scheduler.sleep
M.is_error = errors.is

return M
