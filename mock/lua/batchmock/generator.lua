-- Export files on disk. A part is written once, in 256 KiB chunks, yielding to
-- the event loop every ~20 ms (so a 100 MB part never stalls other requests),
-- to a temporary name renamed into place with a sidecar holding its size,
-- sha256 and record count. Storage then serves it with nginx's own sendfile.
local ffi = require("ffi")
local json = require("batchmock.json")
local util = require("batchmock.util")
local records = require("batchmock.records")

local M = {}
local dict = ngx.shared.mock
local CHUNK = 1024 * 1024 -- distinct records cached per part
local FLUSH = 256 * 1024 -- write (and yield) this often, so other requests wait little

-- zlib and libcrypto are already linked into nginx; FFI avoids holding a
-- 100 MB file in Lua memory or shelling out.
pcall(ffi.cdef, [[
typedef struct batchmock_z_stream_s {
  const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
  unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
  const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
  int data_type; unsigned long adler; unsigned long reserved;
} batchmock_z_stream;
int deflateInit2_(batchmock_z_stream *strm, int level, int method, int windowBits, int memLevel,
                  int strategy, const char *version, int stream_size);
int deflate(batchmock_z_stream *strm, int flush);
int deflateEnd(batchmock_z_stream *strm);
const char *zlibVersion(void);
]])
pcall(ffi.cdef, [[
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct engine_st ENGINE;
]])
pcall(ffi.cdef, [[
EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
const EVP_MD *EVP_sha256(void);
int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl);
int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt);
int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s);
]])

local zlib = ffi.load("libz.so.1")
local crypto = ffi.load("libcrypto.so.3")

local function sha256_new()
  local ctx = crypto.EVP_MD_CTX_new()
  crypto.EVP_DigestInit_ex(ctx, crypto.EVP_sha256(), nil)
  return ctx
end

local function sha256_hex(ctx)
  local md = ffi.new("unsigned char[32]")
  local n = ffi.new("unsigned int[1]")
  crypto.EVP_DigestFinal_ex(ctx, md, n)
  crypto.EVP_MD_CTX_free(ctx)
  local s = ffi.string(md, 32)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local YIELD_PHASES = { timer = true, access = true, content = true, rewrite = true }

-- A sink that counts, hashes and optionally gzips what it writes.
local function open_sink(path, gzip)
  local fh, err = io.open(path, "wb")
  if not fh then return nil, err end
  local sink = { fh = fh, size = 0, sha = sha256_new(), yield = YIELD_PHASES[ngx.get_phase()] }
  -- Give the event loop a turn every ~20 ms of work: often enough that other
  -- requests barely notice, rarely enough that the 1 ms timer sleeps do not
  -- add up (ngx.sleep(0) needs a patch Debian's build lacks).
  local last = ngx.now()
  function sink.maybe_yield()
    if not sink.yield then return end
    ngx.update_time()
    if ngx.now() - last >= 0.02 then
      ngx.sleep(0.001)
      ngx.update_time()
      last = ngx.now()
    end
  end
  local function raw_write(ptr, n)
    if n == 0 then return end
    local s = ffi.string(ptr, n)
    fh:write(s)
    crypto.EVP_DigestUpdate(sink.sha, s, #s)
    sink.size = sink.size + #s
  end
  if gzip then
    local zs = ffi.new("batchmock_z_stream")
    local outsz = 256 * 1024
    local out = ffi.new("unsigned char[?]", outsz)
    -- windowBits 31 = deflate with a gzip header, what `gzip` writes; level 1
    -- because a 100 MB part must compress in about a second
    local rc = zlib.deflateInit2_(zs, 1, 8, 31, 8, 0, zlib.zlibVersion(), ffi.sizeof(zs))
    if rc ~= 0 then fh:close(); return nil, "deflateInit2 failed: " .. rc end
    local function pump(data, flush)
      zs.next_in = data and ffi.cast("const unsigned char *", data) or nil
      zs.avail_in = data and #data or 0
      repeat
        zs.next_out = out
        zs.avail_out = outsz
        local r = zlib.deflate(zs, flush)
        if r < 0 and r ~= -5 then error("deflate failed: " .. r) end
        raw_write(out, outsz - zs.avail_out)
      until zs.avail_out ~= 0
    end
    function sink.write(data) pump(data, 0) end
    function sink.finish() pump(nil, 4); zlib.deflateEnd(zs) end
  else
    function sink.write(data)
      fh:write(data)
      crypto.EVP_DigestUpdate(sink.sha, data, #data)
      sink.size = sink.size + #data
    end
    function sink.finish() end
  end
  function sink.close()
    sink.finish()
    fh:close()
    return sink.size, sha256_hex(sink.sha)
  end
  return sink
end

-- Write exactly `target` uncompressed bytes of records. Records come from a
-- cache of ~1 MiB of distinct ones, repeated for bigger parts; the last
-- record gets a `_pad` string field so the byte count is exact.
local function write_v2(spec, sink)
  local rng = util.rng(spec.key, "records")
  local make = records.v2(spec, rng)
  local target = spec.part_size
  local array = spec.format == "array"
  local head, sep, tail = "", "\n", "\n"
  if array then head, sep, tail = "[\n", ",\n", "\n]\n" end
  local first_index = spec.first_index or 1

  local cache, cache_bytes, maxlen = {}, 0, 0
  local function record(i)
    local n = #cache
    if cache_bytes < CHUNK and i - first_index + 1 > n then
      local r = make(i)
      cache[n + 1] = r
      cache_bytes = cache_bytes + #r
      if #r > maxlen then maxlen = #r end
      return r
    end
    return cache[(i - first_index) % n + 1]
  end

  local buf, buflen = { head }, #head
  local written = 0
  local count = 0
  local function flush()
    if buflen == 0 then return end
    sink.write(table.concat(buf))
    written = written + buflen
    buf, buflen = {}, 0
    sink.maybe_yield()
  end
  local i = first_index
  local rec = record(i)
  -- reserve: room kept for the final padded record and the closing bytes
  while true do
    local reserve = math.max(maxlen, #rec) + 64 + #tail
    local add = (count > 0 and #sep or 0) + #rec
    if written + buflen + add + reserve > target then break end
    if count > 0 then buf[#buf + 1] = sep end
    buf[#buf + 1] = rec
    buflen = buflen + add
    count = count + 1
    if buflen >= FLUSH then flush() end
    i = i + 1
    rec = record(i)
  end
  local remaining = target - written - buflen - #tail - (count > 0 and #sep or 0)
  local last
  if remaining >= #rec + 10 then
    last = rec:sub(1, -2) .. ',"_pad":"' .. string.rep(".", remaining - #rec - 10) .. '"}'
  elseif remaining >= 11 then
    last = '{"_pad":"' .. string.rep(".", remaining - 11) .. '"}'
  end
  if last then
    if count > 0 then buf[#buf + 1] = sep end
    buf[#buf + 1] = last
    buflen = buflen + #last + (count > 0 and #sep or 0)
    count = count + 1
  end
  buf[#buf + 1] = tail
  buflen = buflen + #tail
  flush()
  return count
end

local function write_csv(spec, sink)
  local rng = util.rng(spec.key, "rows")
  local header, row = records.csv(spec, rng)
  local buf, buflen = { header, "\n" }, #header + 1
  for i = 1, spec.rows do
    local r = row(i)
    buf[#buf + 1] = r
    buf[#buf + 1] = "\n"
    buflen = buflen + #r + 1
    if buflen >= FLUSH then
      sink.write(table.concat(buf))
      buf, buflen = {}, 0
      sink.maybe_yield()
    end
  end
  if buflen > 0 then sink.write(table.concat(buf)) end
  return spec.rows
end

function M.path(spec)
  return M.data_dir() .. "/files/" .. spec.diskname
end

function M.data_dir()
  return require("batchmock.state").cfg().data_dir
end

local function read_sidecar(path)
  local fh = io.open(path .. ".meta", "rb")
  if not fh then return nil end
  local meta = json.fast_decode(fh:read("*a") or "")
  fh:close()
  if type(meta) ~= "table" then return nil end
  -- a sidecar without its file, or with a file of another size, is stale
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  if size ~= meta.size then return nil end
  return meta
end

-- Generated metadata {size, sha256, records} if the part is on disk.
function M.meta(spec)
  local raw = dict:get("fk:" .. spec.key)
  if raw then return json.fast_decode(raw) end
  local meta = read_sidecar(M.path(spec))
  if meta then dict:set("fk:" .. spec.key, json.fast_encode(meta)) end
  return meta
end

local function generate(spec)
  local path = M.path(spec)
  local tmp = path .. ".tmp." .. ngx.worker.pid() .. "." .. math.floor(ngx.now() * 1000)
  local sink, err = open_sink(tmp, spec.gzip)
  if not sink then return nil, err end
  local ok, count = pcall(spec.format == "csv" and write_csv or write_v2, spec, sink)
  if not ok then
    pcall(sink.close)
    os.remove(tmp)
    return nil, count
  end
  local size, sha = sink.close()
  local meta = { size = size, sha256 = sha, records = count, uncompressed = spec.format ~= "csv" and spec.part_size or nil }
  local fh = io.open(path .. ".meta", "wb")
  fh:write(json.fast_encode(meta))
  fh:close()
  os.rename(tmp, path)
  dict:set("fk:" .. spec.key, json.fast_encode(meta))
  return meta
end

-- Make sure the part exists on disk; concurrent callers (other workers,
-- other requests) wait for the one generating instead of racing it.
function M.ensure(spec)
  local meta = M.meta(spec)
  if meta then return meta end
  local lock = "gl:" .. spec.key
  local can_wait = YIELD_PHASES[ngx.get_phase()]
  while true do
    local ok = dict:add(lock, ngx.worker.pid(), 600)
    if ok then
      local m, err = generate(spec)
      dict:delete(lock)
      if not m then ngx.log(ngx.ERR, "generating ", spec.diskname, ": ", err) end
      return m, err
    end
    if not can_wait then return nil, "being generated" end
    ngx.sleep(0.02)
    meta = M.meta(spec)
    if meta then return meta end
  end
end

function M.ready(spec)
  return dict:get("fk:" .. spec.key) ~= nil or M.meta(spec) ~= nil
end

return M
