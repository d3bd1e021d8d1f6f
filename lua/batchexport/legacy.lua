--- batchexport.legacy: the legacy 1.0 Export API ("MEP"), as client.legacy.
--   create(kind, params) -> request id
--   status(request_id) -> status table
--   wait_for(request_id, opts) -> status table once SUCCESS
--   rows(request_id_or_status, {header = true, strict = false}) -> iterator over CSV rows
--   download(request_id_or_status, {path = "out.csv", progress = fn}) -> path
--   sync(kind, opts) -> summary of what landed (batchexport.sync)
--
-- The app's API key travels in the path: a request names its path below
-- base_url/1.0/<key>/ (`legacy_path`) and the C core builds the URL from
-- base_url and the client's key, showing the key as ***, so the key is never
-- part of a message and never goes into a URL a server sent. The key the
-- server writes into a status table (`uri`, `file_url`) is masked as ***
-- before the table is returned. `X-Authorization` and the key go only to
-- base_url's origin (scheme, host, port): a `file_url` elsewhere is refused;
-- the storage link the result URL redirects to is fetched with no credential
-- at all.
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
local documents = require("batchexport.documents")
local errors = require("batchexport.errors")
local exports = require("batchexport.exports")
local files = require("batchexport.files")
local options = require("batchexport.options")
local request = require("batchexport.request")
local stream = require("batchexport.stream")
local sync = require("batchexport.sync")
local validate = require("batchexport.validate")

local M = {}

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
  if not documents.request_id(id) then
    return errors.new("validation", "request id: must be 1 to 256 URL-safe characters (A-Z a-z 0-9 . _ ~ -)")
  end
end

-- The API key segment of a 1.0 URL or path, masked.
local function mask_key(s)
  if type(s) ~= "string" then return s end
  return (s:gsub("(/1%.0/)[^/?#]+", "%1***", 1))
end

--- The request for a status's file_url, GET with X-Authorization, or nil,
-- err. file_url is parsed (core.parse_url) and must be on base_url's origin.
-- A file_url of the form base_url/1.0/<key>/<path> becomes
-- { legacy_path = <path> }: the C core puts the client's own key back. Any
-- other path on that origin is fetched as it is, with no key in it.
function M.result_request(client, file_url)
  if type(file_url) ~= "string" or file_url == "" then
    return nil, errors.new("decode", "the status has no file_url")
  end
  local base = assert(core.parse_url(client.base_url))
  local u = core.parse_url(file_url)
  if not u or u.user or u.scheme ~= base.scheme or u.host ~= base.host or u.port ~= base.port then
    -- Only the origin is shown: the path of a foreign URL may hold anything.
    local got = u and (u.scheme .. "://" .. u.host .. ":" .. u.port) or "unparsable"
    return nil, errors.new("decode", "the status's file_url is on another origin (" .. got
      .. ") than base_url (" .. base.scheme .. "://" .. base.host .. ":" .. base.port
      .. "): refusing to send X-Authorization there")
  end
  local prefix = base.path:gsub("/+$", "") .. "/1.0/"
  local rest = u.path:sub(1, #prefix) == prefix and u.path:sub(#prefix + 1):match("^[^/]+/(.*)$")
  local query = u.query and ("?" .. u.query) or ""
  if rest then return { legacy_path = rest .. query } end
  return { url = u.url }
end

function M.bind(client)
  -- Both api.f(x) and api:f(x) work.
  local api, args, needs_keys = request.api_table(client, "rest_key", "api_key")

  -- A 1.0 API route below base_url/1.0/<key>/export/.
  local function route_path(path)
    return "export/" .. path
  end

  -- Errors from a 1.0 call: the documented name of Batch's numeric code,
  -- and a 409 said plainly. (Secrets are masked where every error leaves
  -- the client: client:scrub.)
  local function fix(err)
    if type(err) ~= "table" then return err end
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

  -- Internal functions take `c`, the call's context (request.call): the
  -- client, with the deadline of the public call that started them.
  local function get(c, path, check, ...)
    local value, err = request.document(c, { method = "GET", legacy_path = route_path(path), auth = "legacy" },
      check, ...)
    if value == nil then return nil, fix(err) end
    return value
  end

  local function create(c, kind, params, now)
    local ok, problems = validate.legacy_request(kind, params, now and { now = now } or nil)
    if not ok then return nil, options.error("validation", problems, "invalid legacy export request") end
    local err = needs_keys()
    if err then return nil, err end
    local route = validate.LEGACY_KINDS[kind].route
    if type(route) == "function" then route = route(core.escape(params.token)) end
    local id
    id, err = request.create(c, { legacy_path = route_path(route), auth = "legacy" },
      { from = params.from, to = params.to, events = params.events, ids = params.ids }, documents.legacy_created)
    if id == nil then return nil, fix(err) end
    return id
  end

  --- legacy.create(kind, params) -> request id, or nil, err
  function api.create(...)
    local kind, params = args(...)
    return create(request.call(client), kind, params)
  end

  --- legacy.status(request_id) -> status table, or nil, err. The API key in
  -- its uri and file_url is shown as ***.
  local function status(c, id)
    local err = M.check_request_id(id) or needs_keys()
    if err then return nil, err end
    local doc
    doc, err = get(c, "request/" .. core.escape(id), documents.legacy_status, id)
    if not doc then return nil, err end
    doc.uri = mask_key(doc.uri)
    doc.file_url = mask_key(doc.file_url)
    return doc
  end

  function api.status(...)
    return status(request.call(client), (args(...)))
  end

  -- Waits for request id within c's deadline (request.wait cuts the wait's
  -- timeout to it); an error about the request carries its error_msg.
  local function wait_on(c, id, wait_opts)
    local s, err = request.wait(c, function(o)
      return require("batchexport.wait").legacy(c, { status = function(x) return status(c, x) end }, id, o)
    end, wait_opts)
    if not s and type(err) == "table" and type(err.export) == "table" then
      err.error_msg = err.export.error_msg
    end
    return s, err
  end

  --- legacy.wait_for(request_id, opts) -> status table once SUCCESS, or nil,
  -- err: export_failed once ERROR, expired once EXPIRED (both with
  -- err.export = the status table and err.error_msg), timeout past
  -- opts.timeout. opts as exports.wait_for.
  function api.wait_for(...)
    local id, opts = args(...)
    local deadline, rest, err = request.take_deadline(opts)
    err = err or M.check_request_id(id) or needs_keys()
    if err then return nil, err end
    return wait_on(request.call(client, deadline), id, rest)
  end

  -- The status to read from: a table as status() returns it, or an id to
  -- look up. Returns status, the result request's URL fields, or nil, err.
  local function finished(c, target)
    local s, err = request.resolve(c, target, documents.legacy_status, status)
    if not s then return nil, err end
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
    err = needs_keys()
    if err then return nil, err end
    local target_url
    target_url, err = M.result_request(client, s.file_url)
    if not target_url then
      err.message = what .. ": " .. err.message
      err.export = s
      return nil, err
    end
    return s, target_url
  end

  -- A function returning a fresh storage link: GET file_url with
  -- X-Authorization, which answers 302 to a link valid for 20 minutes.
  local function link_for(c, target_url)
    return function()
      local res, err = request.perform(c, { method = "GET", url = target_url.url,
        legacy_path = target_url.legacy_path, auth = "legacy" }, OK_REDIRECT)
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
    header = { "boolean" },
    strict = { "boolean" },
    deadline = options.DEADLINE,
    columns = { "table", column_list, "expected a list of 1 to 256 column names" },
  }

  --- legacy.rows(request_id_or_status, {header = true, strict = false,
  -- columns = {...}}) -> iterator over the CSV's rows, streamed; raises err
  -- on failure. With columns (header names), each row holds only those; a
  -- name the header lacks is nil. The for loop of Lua 5.4 closes the
  -- transfer when it is left early.
  function api.rows(...)
    local target, given = args(...)
    local opts, err = options.check(given, ROWS_OPTIONS, "validation")
    if not opts then client:raise(err) end
    local header = opts.header ~= false
    if opts.columns and not header then
      client:raise(errors.new("validation", "columns: needs header = true (columns are the header's names)"))
    end
    local wanted
    if opts.columns then
      wanted = {}
      for _, name in ipairs(opts.columns) do wanted[name] = true end
    end
    local c = request.call(client, opts.deadline)
    local s, target_url = finished(c, target)
    if not s then client:raise(target_url) end
    local reader = stream.open(c, { link = link_for(c, target_url), format = "csv", label = label(s) })
    local it = reader:records()
    local keys, width, n = nil, nil, 0

    local function pull()
      local ok, row = pcall(it)
      if not ok then
        reader:close()
        client:raise(fix(row))
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
        client:raise(errors.new("decode", label(s) .. ": row " .. n .. " has " .. #row ..
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
    path = { "string", function(v) return v ~= "" end, "expected a file name" },
    progress = { "function" },
    deadline = options.DEADLINE,
  }

  --- legacy.download(request_id_or_status, {path = "out.csv", progress = fn})
  -- -> the path written, or nil, err. The CSV goes to a temporary file in
  -- the same folder, is synced, then renamed to `path`. The default path is
  -- the file's own name (from file_url) in the current folder.
  -- progress(bytes_done) is called as bytes arrive.
  function api.download(...)
    local target, given = args(...)
    local opts, err = options.check(given, DOWNLOAD_OPTIONS, "validation")
    if not opts then return nil, err end
    local c = request.call(client, opts.deadline)
    local s, target_url = finished(c, target)
    if not s then return nil, target_url end
    local path = opts.path
    if not path then
      local u = core.parse_url(s.file_url, client.base_url)
      local name = u and u.path:match("([^/]+)$") or ""
      if not name:match("%.csv$") then name = tostring(s.id) .. ".csv" end
      path = files.safe_name(name)
    end
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then
      local ok, why = core.mkdir(dir)
      if not ok then return nil, errors.new("config", why) end
    end
    local saved
    saved, err = files.save(c, { link = link_for(c, target_url), path = path, label = label(s),
      progress = opts.progress })
    if not saved then return nil, fix(err) end
    return saved
  end

  -- What sync needs of this API (batchexport.sync). The legacy API lists
  -- no requests: a run killed between a create and the save of its id
  -- cannot find that request again, and the next run asks anew (a 409
  -- while the first is still being processed).
  local function sync_driver(kind, opts)
    local function params_for(range)
      local p = { token = opts.token, events = opts.events, ids = opts.ids }
      if range then
        p.from = os.date("!%Y-%m-%dT%H:%M:%S", range.from)
        p.to = os.date("!%Y-%m-%dT%H:%M:%S", range.to)
      end
      return p
    end
    return {
      check = function(now)
        local ok, problems = validate.legacy_request(kind, params_for({ from = now - 60, to = now }), { now = now })
        if ok then return nil end
        return options.error("validation", problems, "invalid legacy export request")
      end,
      kind = "legacy-" .. kind .. (opts.token and ("-" .. files.safe_name(opts.token)) or ""),
      format = "csv",
      request = params_for(nil),
      create = function(c, range) return create(c, kind, params_for(range), opts.now) end,
      find = function() return nil end,
      wait = wait_on,
      parts = function(s)
        return { { part = 1, status = s } }
      end,
      open_raw = function(c, file, text)
        local s, target_url = finished(c, file.status)
        if not s then return nil, target_url end
        return stream.open(c, { link = link_for(c, target_url), format = "raw", compression = "none", label = text })
      end,
    }
  end

  --- legacy.sync(kind, opts) -> a summary of what landed, or nil, err: the
  -- kinds with a time range (not userbase), range by range, as
  -- exports.sync. opts: dir, token, events, ids, since, lag, max_range,
  -- accept_gap, deadline, now, interval, max_interval.
  function api.sync(...)
    local kind, given = args(...)
    if not validate.LEGACY_KINDS[kind] or not validate.LEGACY_KINDS[kind].needs_dates then
      return nil, errors.new("validation", "kind: expected a legacy kind with a time range ("
        .. "campaign_ids campaign_events transactional_ids transactional_events inapp_ids inapp_events reachability)")
    end
    local opts, err = sync.options(given, "legacy")
    if not opts then return nil, err end
    err = needs_keys()
    if err then return nil, err end
    return sync.run(client, request.call(client, opts.deadline), sync_driver(kind, opts), opts)
  end

  return api
end

return M
