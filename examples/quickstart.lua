-- Quickstart: create an attributes export, wait for it, walk its records and
-- save its files. Runs against the bundled mock (make demo) or Batch itself:
--
--   BATCH_REST_KEY=... BATCH_PROJECT_KEY=... lua5.4 examples/quickstart.lua [out-dir]
--   (MOCK_API_URL, printed by bin/batchexport-mock start, points it at the mock)
local batchexport = require("batchexport")

local client = batchexport.assert(batchexport.new({
  rest_key = os.getenv("BATCH_REST_KEY"),
  project_key = os.getenv("BATCH_PROJECT_KEY"),
  base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL"),   -- nil: https://api.batch.com
}))

local id = batchexport.assert(client.exports.create({
  export_type = "ATTRIBUTES",
  attributes = { "$email_address", "$language", "$region" },
  identifiers = { "custom_id" },
}))
print("created " .. id)

local export = batchexport.assert(client.exports.wait_for(id, { interval = 1, max_interval = 2, timeout = 120 }))
print(string.format("%s: %s, %d file(s)", export.id, export.status, #export.files))

local records, languages = 0, {}
for record in client.exports.records(export) do
  records = records + 1
  local lang = record["$language"] or "unknown"
  languages[lang] = (languages[lang] or 0) + 1
end
print(string.format("%d records", records))
for lang, n in pairs(languages) do print(string.format("  %-8s %d", lang, n)) end

local paths = batchexport.assert(client.exports.download(export, { dir = arg[1] or "out" }))
for _, path in ipairs(paths) do print("saved " .. path) end
