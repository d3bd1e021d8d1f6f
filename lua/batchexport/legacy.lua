--- batchexport.legacy: the legacy 1.0 Export API ("MEP"), as client.legacy.
--   create(kind, params) -> request id
--   status(request_id) -> status table
--   wait_for(request_id, opts) -> status table once SUCCESS
--   rows(request_id_or_status, {header = true, strict = false}) -> iterator over CSV rows
--   download(request_id_or_status, {path = "out.csv", progress = fn}) -> path
--
-- The app's API key travels in the path: every URL is built with the literal
-- "{api_key}", which the C core replaces (percent-encoded) and shows as ***,
-- so the key is never part of a message. The key the server writes into a
-- status table (`uri`, `file_url`) is masked as *** before the table is
-- returned. `X-Authorization` goes only to base_url's origin (scheme, host,
-- port): a `file_url` elsewhere is refused; the storage link the result URL
-- redirects to is fetched with no credential at all.
--
-- Rows with header = true (the default): the first CSV row names the
-- columns and each later row is a table keyed by those names. A row with
-- more fields than the header keeps the extra values at their 1-based
-- positions (row[8] for an 8th value under a 7-name header, as in Batch's
-- own userbase example); a row with fewer fields lacks the missing names
-- (nil, not ""). A header name that is empty or repeats an earlier one is
-- positional too. strict = true raises a decode error instead, on the first
-- row whose width differs from the header's. A UTF-8 byte order mark before
-- the first header name is dropped from that name. With header = false every
-- row, the header included, is an array of strings, bytes untouched.
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local exports = require("batchexport.exports")
local files = require("batchexport.files")
local json = require("batchexport.json")
local request = require("batchexport.request")
local stream = require("batchexport.stream")
local validate = require("batchexport.validate")

local M = {}

local OK_CREATE = request.OK_CREATE
local OK_GET = request.OK_GET
local OK_REDIRECT = request.OK_REDIRECT

--- Batch's documented 1.0 errors: name -> { HTTP status, numeric code }.
M.ERRORS = {
  AUTHENTICATION_INVALID = { 401, 10 },
  API_MISUSE = { 403, 12 },
  ROUTE_NOT_FOUND = { 404, 20 },
  MISSING_PARAMETER = { 400, 30 },
  MALFORMED_PARAMETER = { 400, 31 },
  MALFORMED_JSON_BODY = { 400, 32 },
  SERVER_ERROR = { 500, 1 },
  MAINTENANCE_ERROR = { 503, 2 },
}
local NAME_OF_CODE = {}
for name, v in pairs(M.ERRORS) do NAME_OF_CODE[v[2]] = name end

local function integer(v)
  local n = tonumber(v)
  if not n or n ~= math.floor(n) then return nil end
  return math.tointeger and math.tointeger(n) or n
end

--- Checks a request id before it goes into a path: 1 to 256 of
-- A-Z a-z 0-9 . _ ~ -, and not "." or "..". Returns an error or nil.
function M.check_request_id(id)
  if type(id) ~= "string" then
    return errors.new("validation", "request id: expected a string, got " .. type(id))
  end
  if id == "" or #id > 256 or id:find("[^%w%._~%-]") or id == "." or id == ".." then
    return errors.new("validation", "request id: must be 1 to 256 URL-safe characters (A-Z a-z 0-9 . _ ~ -)")
  end
end

-- scheme, host, port of an http(s) URL (lowercased, default ports filled
-- in), or nil. A URL with userinfo is not accepted.
function M.origin(url)
  if type(url) ~= "string" then return nil end
  local scheme, authority = url:match("^([%a][%w+.-]*)://([^/?#]*)")
  if not scheme then return nil end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return nil end
  if authority == "" or authority:find("@", 1, true) then return nil end
  local host, port = authority:match("^(%[[^%]]+%]):?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  if not host then return nil end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  return scheme .. "://" .. host:lower() .. ":" .. port
end

-- The API key segment of a 1.0 URL or path, masked.
local function mask_key(s)
  if type(s) ~= "string" then return s end
  return (s:gsub("(/1%.0/)[^/?#]+", "%1***", 1))
end

local function escape_braces(s)
  return (s:gsub("[{}]", function(c) return c == "{" and "%7B" or "%7D" end))
end

--- The URL template to GET a status's file_url with X-Authorization: the
-- API key segment becomes "{api_key}" (the C core puts the client's key
-- back), and the URL must be on base_url's origin. Returns it, or nil, err.
function M.result_url(client, file_url)
  if type(file_url) ~= "string" or file_url == "" then
    return nil, errors.new("decode", "the status has no file_url")
  end
  if not file_url:match("^[^%s%c]+$") then
    return nil, errors.new("decode", "the status's file_url is not a usable URL")
  end
  local want, got = M.origin(client.base_url), M.origin(file_url)
  if not got or got ~= want then
    -- Only the origin is shown: the path of a foreign URL may hold anything.
    return nil, errors.new("decode", "the status's file_url is on another origin (" .. tostring(got or "unparsable")
      .. ") than base_url (" .. want .. "): refusing to send X-Authorization there")
  end
  local head, tail = file_url:match("^(.-/1%.0/)[^/?#]+(.*)$")
  if head then return escape_braces(head) .. "{api_key}" .. escape_braces(tail) end
  return escape_braces(file_url)
end

function M.bind(client)
  -- Both api.f(x) and api:f(x) work.
  local api, args = request.api_table()

  local function needs_keys()
    return client:need("rest_key", "api_key")
  end

  local function url(path)
    return client.base_url .. "/1.0/{api_key}/export/" .. path
  end

  -- Errors from a 1.0 call: no secret in err.request, the documented name
  -- of Batch's numeric code, and a 409 said plainly.
  local function fix(err)
    if type(err) ~= "table" then return err end
    if err.request then err.request = client.core:redact(err.request) end
    if err.message then err.message = client.core:redact(err.message) end
    if err.code ~= nil then
      local n = integer(err.code)
      if n then err.code = n end
      err.name = err.name or NAME_OF_CODE[n]
    end
    if err.status == 409 and (err.kind == "api" or err.kind == "http") and not err.conflict then
      err.conflict = true
      err.message = "409 Conflict: an identical export is already being processed; wait for it to finish"
        .. " or change the request (server said: " .. tostring(err.message) .. ")"
    end
    return err
  end

  local function get(path)
    local doc, res = request.json(client, { method = "GET", url = url(path), auth = "legacy",
      headers = { "Accept: application/json" } }, OK_GET)
    if not doc then return nil, fix(res) end
    return doc, res
  end

  --- legacy.create(kind, params) -> request id, or nil, err
  function api.create(...)
    local kind, params = args(...)
    local ok, problems = validate.legacy_request(kind, params)
    if not ok then
      return nil, errors.new("validation", "invalid legacy export request: " .. table.concat(problems, "; "),
        { problems = problems })
    end
    local err = needs_keys()
    if err then return nil, err end
    local body = { from = params.from, to = params.to, events = params.events, ids = params.ids }
    local text, why = json.encode(body)
    if not text then return nil, errors.new("validation", "cannot encode the request as JSON: " .. tostring(why)) end
    local route = validate.LEGACY_KINDS[kind].route
    if type(route) == "function" then route = route(core.escape(params.token)) end
    local doc, res = request.json(client, { method = "POST", url = url(route), auth = "legacy", body = text,
      content_type = "application/json", headers = { "Accept: application/json" } }, OK_CREATE)
    if not doc then return nil, fix(res) end
    local id = doc.requestId or doc.request_id or doc.id
    if type(id) ~= "string" or id == "" then
      return nil, errors.new("decode", "the create response has no requestId", { status = res.status })
    end
    return id
  end

  --- legacy.status(request_id) -> status table, or nil, err. The API key in
  -- its uri and file_url is shown as ***.
  function api.status(...)
    local id = args(...)
    local err = M.check_request_id(id) or needs_keys()
    if err then return nil, err end
    local doc, res = get("request/" .. core.escape(id))
    if not doc then return nil, res end
    if type(doc.status) ~= "string" then
      return nil, errors.new("decode", "the status response for request " .. id .. " has no status",
        { status = res.status })
    end
    doc.uri = mask_key(doc.uri)
    doc.file_url = mask_key(doc.file_url)
    return doc
  end

  --- legacy.wait_for(request_id, opts) -> status table once SUCCESS, or nil,
  -- err: export_failed once ERROR, expired once EXPIRED (both with
  -- err.export = the status table and err.error_msg), timeout past
  -- opts.timeout. opts as exports.wait_for.
  function api.wait_for(...)
    local id, opts = args(...)
    local err = M.check_request_id(id) or needs_keys()
    if err then return nil, err end
    local s
    s, err = require("batchexport.wait").legacy(client, api, id, opts)
    if not s and type(err) == "table" and type(err.export) == "table" then
      err.error_msg = err.export.error_msg
    end
    return s, err
  end

  -- The status to read from: a table as status() returns it, or an id to
  -- look up. Returns status, result URL template, or nil, err.
  local function finished(target)
    local s = target
    if type(target) ~= "table" then
      local err
      s, err = api.status(target)
      if not s then return nil, err end
    end
    local what = "legacy export request " .. tostring(s.id)
    if s.status == "ERROR" then
      local why = s.error_msg
      return nil, errors.new("export_failed", what .. " failed" ..
        ((type(why) == "string" and why ~= "") and (": " .. why) or " (status ERROR)"),
        { export = s, error_msg = why })
    elseif s.status == "EXPIRED" then
      return nil, errors.new("expired", what .. " has expired: its file is no longer available; create the export again",
        { export = s, error_msg = s.error_msg })
    elseif s.status ~= "SUCCESS" then
      return nil, errors.new("validation", what .. " is " .. tostring(s.status) ..
        ", not SUCCESS: its file is not ready (see legacy.wait_for)", { export = s })
    end
    local err = needs_keys()
    if err then return nil, err end
    local tmpl
    tmpl, err = M.result_url(client, s.file_url)
    if not tmpl then
      err.message = what .. ": " .. err.message
      err.export = s
      return nil, err
    end
    return s, tmpl
  end

  -- A function returning a fresh storage link: GET file_url with
  -- X-Authorization, which answers 302 to a link valid for 20 minutes.
  local function link_for(tmpl)
    return function()
      local res, err = request.perform(client, { method = "GET", url = tmpl, auth = "legacy" }, OK_REDIRECT)
      if not res then return nil, fix(err) end
      return exports.location(client, res)
    end
  end

  local function label(s)
    return "legacy export request " .. tostring(s.id)
  end

  local function column_list(v)
    if #v < 1 or #v > 256 then return false end
    for i = 1, #v do
      if type(v[i]) ~= "string" or v[i] == "" then return false end
    end
    return next(v, #v) == nil
  end

  local ROWS_OPTIONS = {
    header = { "boolean", nil, "a boolean" },
    strict = { "boolean", nil, "a boolean" },
    columns = { "table", column_list, "a list of 1 to 256 column names" },
  }

  --- legacy.rows(request_id_or_status, {header = true, strict = false,
  -- columns = {...}}) -> iterator over the CSV's rows, streamed; raises err
  -- on failure. With columns (header names), each row holds only those; a
  -- name the header lacks is nil. The for loop of Lua 5.4 closes the
  -- transfer when it is left early.
  function api.rows(...)
    local target, options = args(...)
    local opts, err = errors.options(options, ROWS_OPTIONS)
    if not opts then errors.raise(err) end
    local header = opts.header ~= false
    if opts.columns and not header then
      errors.raise(errors.new("validation", "columns: needs header = true (columns are the header's names)"))
    end
    local wanted
    if opts.columns then
      wanted = {}
      for _, name in ipairs(opts.columns) do wanted[name] = true end
    end
    local s, tmpl = finished(target)
    if not s then errors.raise(tmpl) end
    local reader = stream.open(client, { link = link_for(tmpl), format = "csv", label = label(s) })
    local it = reader:records()
    local keys, width, n = nil, nil, 0

    local function pull()
      local ok, row = pcall(it)
      if not ok then
        reader:close()
        errors.raise(fix(row))
      end
      if row == nil then reader:close() end
      return row
    end

    local function next_row()
      if not header then return pull() end
      if not keys then
        local names = pull()
        if names == nil then return nil end
        if names[1] then names[1] = names[1]:gsub("^\239\187\191", "") end
        keys, width = {}, #names
        local seen = {}
        for i, name in ipairs(names) do
          if name ~= "" and not seen[name] then
            keys[i], seen[name] = name, true
          end
        end
        if wanted then
          -- Only the listed columns: the others' positions map to nothing.
          local kept = {}
          for i = 1, width do
            if keys[i] and wanted[keys[i]] then kept[i] = keys[i] end
          end
          keys = kept
        end
      end
      local row = pull()
      if row == nil then return nil end
      n = n + 1
      if opts.strict and #row ~= width then
        reader:close()
        errors.raise(errors.new("decode", label(s) .. ": row " .. n .. " has " .. #row ..
          " fields, the header names " .. width, { row = n, fields = row }))
      end
      local t = {}
      for i = 1, #row do
        local name = keys[i]
        if name then t[name] = row[i] elseif not wanted then t[i] = row[i] end
      end
      return t
    end

    return next_row, nil, nil, reader
  end

  local DOWNLOAD_OPTIONS = {
    path = { "string", function(v) return v ~= "" and not v:find("\0", 1, true) end, "a file name" },
    progress = { "function", nil, "a function" },
  }

  --- legacy.download(request_id_or_status, {path = "out.csv", progress = fn})
  -- -> the path written, or nil, err. The CSV goes to a temporary file in
  -- the same folder, is synced, then renamed to `path`. The default path is
  -- the file's own name (from file_url) in the current folder.
  -- progress(bytes_done) is called as bytes arrive.
  function api.download(...)
    local target, options = args(...)
    local opts, err = errors.options(options, DOWNLOAD_OPTIONS)
    if not opts then return nil, err end
    local s, tmpl = finished(target)
    if not s then return nil, tmpl end
    local path = opts.path
    if not path then
      local name = tostring(s.file_url):gsub("[?#].*$", ""):match("([^/]+)$") or ""
      if not name:match("%.csv$") then name = tostring(s.id) .. ".csv" end
      path = files.safe_name(name)
    end
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then
      local ok, why = core.mkdir(dir)
      if not ok then return nil, errors.new("config", why) end
    end
    local saved
    saved, err = files.save(client, { link = link_for(tmpl), path = path, label = label(s),
      progress = opts.progress })
    if not saved then return nil, fix(err) end
    return saved
  end

  return api
end

return M
