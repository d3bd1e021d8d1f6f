-- batchexport.from_env(): the options a program does not give come from the
-- BATCH_* environment, so the README's usage block works as pasted against
-- the mock or Batch. batchexport.assert(): assert that raises the error
-- object on every Lua (PUC 5.1's own assert wants a string).
local mock = require("spec.support.mock")
local batchexport = require("batchexport")

local LUA = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
local q = mock.sh_quote

-- Runs Lua source in a child interpreter with exactly these BATCH_* variables
-- (the rest of the environment minus BATCH_*): its output and exit code.
local function child(vars, source)
  local cmd = { "env" }
  for _, k in ipairs({ "BATCH_REST_KEY", "BATCH_PROJECT_KEY", "BATCH_API_KEY", "BATCH_BASE_URL",
    "BATCH_API_VERSION", "BATCH_CA_FILE", "BATCH_PROXY", "MOCK_API_URL" }) do
    cmd[#cmd + 1] = "-u " .. k
  end
  for k, v in pairs(vars) do cmd[#cmd + 1] = k .. "=" .. q(v) end
  cmd[#cmd + 1] = LUA .. " -e " .. q(source) .. " 2>&1; echo \"exit=$?\""
  local p = assert(io.popen(table.concat(cmd, " ")))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit=(%d+)%s*$")), (out:gsub("exit=%d+%s*$", ""))
end

describe("batchexport.from_env", function()
  local m

  setup(function() m = mock.start({ workers = 1, speed = 50 }) end)
  teardown(function() if m then m:stop() end end)

  local function mock_env()
    return {
      BATCH_REST_KEY = m.rest_key, BATCH_PROJECT_KEY = m.project_key,
      BATCH_API_KEY = m.api_key, BATCH_BASE_URL = m.api_url,
    }
  end

  it("takes keys and base_url from BATCH_* and reaches the mock with them", function()
    local code, out = child(mock_env(), [[
      local batchexport = require("batchexport")
      local client = batchexport.assert(batchexport.from_env())
      local page = batchexport.assert(client.exports.pages({ limit = 2 })())
      io.write(tostring(client), " ", #page.exports, "\n")
      local id = batchexport.assert(client.legacy.create("userbase", { ids = { "install_id" } }))
      io.write("legacy ", type(id), "\n")
    ]])
    assert.equal(0, code, out)
    assert.matches("batchexport.client %(" .. m.api_url:gsub("%p", "%%%0") .. ", API 2.11%) 2", out)
    assert.matches("legacy string", out)
  end)

  it("reads BATCH_API_VERSION and BATCH_CA_FILE", function()
    local ca = os.tmpname()
    local code, out = child({ BATCH_API_VERSION = "2.9", BATCH_CA_FILE = ca }, [[
      local client = assert(require("batchexport").from_env())
      io.write(client.api_version, "\n")
    ]])
    os.remove(ca)
    assert.equal(0, code, out)
    assert.matches("^2.9\n", out)
    code, out = child({ BATCH_CA_FILE = "/nonexistent/ca.pem" }, [[
      local client, err = require("batchexport").from_env()
      io.write(tostring(client), " ", err.kind, " ", err.message, "\n")
    ]])
    assert.equal(0, code, out)
    assert.matches("nil config ca_file: cannot read /nonexistent/ca.pem", out, 1, true)
    assert.matches("BATCH_CA_FILE", out, 1, true)
  end)

  it("refuses a plain-http BATCH_BASE_URL to another host before any request, naming the variable", function()
    local code, out = child({ BATCH_BASE_URL = "http://api.example.invalid", BATCH_REST_KEY = "key_long_enough" }, [[
      local client, err = require("batchexport").from_env()
      io.write(tostring(client), " ", err.kind, " ", err.message, "\n")
    ]])
    assert.equal(0, code, out)
    assert.matches("^nil config base_url: plain http:// to api.example.invalid would send the keys in clear", out)
    assert.matches("(read from the environment: BATCH_REST_KEY, BATCH_BASE_URL)", out, 1, true)
  end)

  it("lets the options a program gives win over the environment", function()
    local code, out = child({ BATCH_BASE_URL = "http://127.0.0.2:9", BATCH_API_VERSION = "2.9" }, [[
      local client = assert(require("batchexport").from_env({ base_url = "http://127.0.0.1:1", api_version = "2.11" }))
      io.write(client.base_url, " ", client.api_version, "\n")
    ]])
    assert.equal(0, code, out)
    assert.matches("^http://127.0.0.1:1 2.11\n", out)
  end)

  it("treats an empty variable as unset", function()
    local code, out = child({ BATCH_BASE_URL = "", BATCH_REST_KEY = "" }, [[
      local client = assert(require("batchexport").from_env())
      local _, err = client.exports.view("x")
      io.write(client.base_url, " ", err.kind, " ", err.message, "\n")
    ]])
    assert.equal(0, code, out)
    assert.matches("^https://api.batch.com config this call needs rest_key and project_key", out)
  end)

  it("never echoes a bad key from the environment, and names the variable", function()
    local secret = "sekret value with spaces"
    local code, out = child({ BATCH_REST_KEY = secret }, [[
      local client, err = require("batchexport").from_env()
      io.write(tostring(client), " ", tostring(err), "\n")
    ]])
    assert.equal(0, code, out)
    assert.matches("nil batchexport: config: rest_key: expected 4 to 256 characters, no spaces or control characters", out, 1, true)
    assert.matches("BATCH_REST_KEY", out, 1, true)
    assert.is_nil(out:find("sekret", 1, true))
  end)

  it("refuses what new refuses: options that are not a table, unknown names", function()
    local client, err = batchexport.from_env("https://api.batch.com")
    assert.is_nil(client)
    assert.equal("config", err.kind)
    client, err = batchexport.from_env({ rest_kee = "x" })
    assert.is_nil(client)
    assert.matches('unknown option "rest_kee"', err.message, 1, true)
  end)

  it("does not change the table it is given", function()
    local opts = { api_version = "2.11" }
    local client = assert(batchexport.from_env(opts))
    client:close()
    assert.same({ api_version = "2.11" }, opts)
  end)
end)

describe("batchexport.assert", function()
  it("returns every value when the first is true", function()
    local a, b, c = batchexport.assert(1, nil, 3)
    assert.equal(1, a)
    assert.is_nil(b)
    assert.equal(3, c)
  end)

  it("raises the error object itself, which pcall gives back", function()
    local _, err = batchexport.new({ timeout = -1 })
    local ok, raised = pcall(batchexport.assert, nil, err)
    assert.is_false(ok)
    assert.equal(err, raised)
    assert.is_true(batchexport.is_error(raised, "config"))
  end)

  it("works the same on this interpreter from a script, printing the error's line", function()
    local code, out = child({}, [[
      local batchexport = require("batchexport")
      local ok, e = pcall(function() return batchexport.assert(batchexport.new({ timeout = -1 })) end)
      io.write(tostring(ok), " ", tostring(e), "\n")
    ]])
    assert.equal(0, code, out)
    assert.matches("^false batchexport: config: timeout: expected a number of seconds from 0 to 31536000\n", out)
  end)
end)
