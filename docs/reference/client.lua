--- The client `batchexport.new` and `batchexport.from_env` return.
--
-- It holds the two APIs, `client.exports` (v2) and `client.legacy` (1.0).
-- Keys live in the C core only: not in the client table, `tostring(client)`,
-- errors, log lines or tracebacks. (This file documents the API; the code is
-- lua/batchexport/client.lua.)
-- @classmod client
-- @usage
-- local client = batchexport.assert(batchexport.from_env())
-- print(tostring(client))   --> batchexport.client (https://api.batch.com, API 2.11)
-- client:close()

--- The v2 Exports API: see `exports`.
-- @field exports

--- The legacy 1.0 Export API: see `legacy`.
-- @field legacy

--- The API root in use, without a trailing `/`.
-- @field base_url

--- The v2 version in the path, `"2.11"` by default.
-- @field api_version

--- Ends every transfer of this client and frees its connections and keys now
-- rather than when it is collected. Also `local client <close> = ...` on Lua 5.4.
-- Every call after it returns `nil, err`.
-- @function client:close
-- @usage
-- client:close()
