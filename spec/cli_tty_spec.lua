-- The progress display of bin/batchexport on a real pseudo-terminal (util-linux
-- `script` runs the command on a pty and copies what it writes): the bar
-- renders, redraws in place and finishes cleanly with a newline; with stdout
-- a pipe, stdout has no escape codes; off a terminal, nothing has any.
local mock = require("spec.support.mock")
local h = require("spec.support.helpers")
local support_cli = require("spec.support.cli")

local sh_quote = mock.sh_quote

local function has_script()
  return os.execute("command -v script >/dev/null 2>&1")
end

local slurp = h.read

describe("bin/batchexport on a terminal", function()
  local m, tmp

  local function env_prefix(extra)
    local vars = {
      PATH = os.getenv("PATH"), HOME = tmp, TERM = "xterm", COLUMNS = "100",
      BATCH_BASE_URL = m.api_url, BATCH_REST_KEY = m.rest_key, BATCH_PROJECT_KEY = m.project_key,
      BATCH_API_KEY = m.api_key,
    }
    for k, v in pairs(extra or {}) do vars[k] = v end
    return support_cli.env(vars)
  end

  -- Runs a shell command line on a pty; returns exit code and what the
  -- terminal received.
  local function on_pty(cmdline)
    local p = assert(io.popen("script -qefc " .. sh_quote(cmdline) .. " /dev/null </dev/null; echo \"exit=$?\""))
    local out = p:read("a")
    p:close()
    local code = tonumber(out:match("exit=(%d+)%s*$"))
    return code, (out:gsub("exit=%d+%s*$", ""))
  end

  local function cli(args, extra)
    local quoted = {}
    for i, a in ipairs(args) do quoted[i] = sh_quote(a) end
    return env_prefix(extra) .. " bin/batchexport " .. table.concat(quoted, " ")
  end

  setup(function()
    assert(has_script(), "util-linux `script` is needed (apt-get install bsdutils)")
    m, tmp = mock.start({ workers = 1, speed = 50 }), h.tmpdir()
  end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)
  before_each(function() m:reset() end)

  -- A download slow enough for several redraws: storage answers after 0.4 s.
  local function slow_export()
    local e = m:create_export({ status = "SUCCESS", parts = 3, part_size = 300000 })
    m:fault({ host = "storage", delay = 0.4, times = 3 })
    return e
  end

  it("draws a bar with bytes, rate and time left, redrawn in place, ending with 100% and a newline", function()
    local e = slow_export()
    local dir = tmp .. "/dl1"
    local code, screen = on_pty(cli({ "download", e.id, "-o", dir }))
    assert.equal(0, code, screen)
    -- every redraw: carriage return, the line, erase to end of line
    local draws = {}
    for line in screen:gmatch("\r([^\r\n]-)\27%[K") do draws[#draws + 1] = line end
    assert.truthy(#draws >= 2, screen)
    for _, d in ipairs(draws) do
      assert.truthy(#d <= 99, d)                             -- never wider than COLUMNS - 1
      assert.matches("%d+%%  [%d%.]+ [KMG]?i?B / [%d%.]+ [KMG]?i?B", d)
    end
    assert.matches("%[%-+%]   0%%", draws[1])
    local last = draws[#draws]
    assert.matches("%[#+%] 100%%", last)
    assert.matches("/s  in %d+:%d%d$", last)
    -- the final line is followed by a newline, then only the paths
    local after = screen:match("100%%[^\r\n]*\27%[K\r?\n(.*)$")
    assert.truthy(after, screen)
    assert.falsy(after:find("\27", 1, true))
    local n = 0
    for path in after:gmatch("[^\r\n]+") do
      n = n + 1
      assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/" .. e.id .. "%-%d%.json$", path)
    end
    assert.equal(3, n)
  end)

  it("shows the status and elapsed time while waiting, and ends with the outcome", function()
    m:plan({ duration = 60 })                                -- about 1.2 s at speed 50
    local _, created = on_pty(cli({ "create", "attributes", "-i", "custom_id" }))
    local id = created:match("(export_%w+)")
    local code, screen = on_pty(cli({ "wait", id, "--interval", "0.2" }))
    assert.equal(0, code, screen)
    local draws = {}
    for line in screen:gmatch("\r([^\r\n]-)\27%[K") do draws[#draws + 1] = line end
    assert.truthy(#draws >= 3, screen)
    -- "checking" until the first answer (how many draws that takes depends
    -- on the machine's load), then the status
    local with_status = 0
    for _, d in ipairs(draws) do
      if d:match("^[|/%-\\] " .. id .. ": %u+  %d+:%d%d$") then
        with_status = with_status + 1
      elseif not d:match(id .. ": SUCCESS after") then
        assert.matches("^[|/%-\\] " .. id .. ": checking  %d+:%d%d$", d)
      end
    end
    assert.truthy(with_status >= 1, screen)
    assert.matches(id .. ": SUCCESS after %d+:%d%d\27%[K\r?\nSUCCESS\r?\n", screen)
  end)

  it("with stdout a pipe, stdout has no escape codes (the bar is on stderr, still drawn)", function()
    local e = slow_export()
    local out = tmp .. "/stdout.txt"
    local code, screen = on_pty(cli({ "download", e.id, "-o", tmp .. "/dl2" }) .. " | cat > " .. sh_quote(out))
    assert.equal(0, code, screen)
    local text = slurp(out)
    assert.falsy(text:find("[\27\r]"), text)
    assert.equal(3, select(2, text:gsub("\n", "")))
    assert.matches("100%%", screen)                          -- stderr still the terminal
  end)

  it("--quiet, --no-progress and TERM=dumb draw nothing", function()
    local e = m:create_export({ status = "SUCCESS", parts = 2 })
    local code, screen = on_pty(cli({ "download", e.id, "-o", tmp .. "/dl3", "--quiet" }))
    assert.equal(0, code)
    assert.falsy(screen:find("\27", 1, true))
    assert.falsy(screen:find("downloaded", 1, true))
    code, screen = on_pty(cli({ "download", e.id, "-o", tmp .. "/dl4", "--no-progress" }))
    assert.equal(0, code)
    assert.falsy(screen:find("\27", 1, true))
    assert.matches("downloaded 2 file%(s%)", screen)          -- a plain note instead
    code, screen = on_pty(cli({ "download", e.id, "-o", tmp .. "/dl5" }, { TERM = "dumb" }))
    assert.equal(0, code)
    assert.falsy(screen:find("\27", 1, true))
  end)

  it("configure asks for the keys without echoing them on the terminal, and turns echo back on", function()
    -- The keys are typed once each prompt is up (the terminal echoes typed-ahead
    -- text before the command could turn echo off, as a person's would).
    local typing = "sleep 2; printf 'typed_rest_key_1\\n'; sleep 1; printf 'typed_project_key_2\\n'; "
      .. "sleep 1; printf 'typed_api_key_3\\n'; sleep 1"
    local cmdline = cli({ "configure" }, { XDG_CONFIG_HOME = tmp .. "/xdg" }) .. "; stty -a"
    local p = assert(io.popen("(" .. typing .. ") | script -qefc " .. sh_quote(cmdline) .. " /dev/null; echo \"exit=$?\""))
    local screen = p:read("a")
    p:close()
    assert.matches("exit=0", screen)
    assert.matches("REST API key %[none%]: ", screen)
    for _, secret in ipairs({ "typed_rest_key_1", "typed_project_key_2", "typed_api_key_3" }) do
      assert.falsy(screen:find(secret, 1, true), secret .. " echoed: " .. screen)
    end
    assert.matches("[^-]echo ", screen)                      -- stty -a after it: echo is on again
    local conf = slurp(tmp .. "/xdg/batchexport/config")
    assert.matches("rest_key = typed_rest_key_1", conf)
    assert.matches("api_key = typed_api_key_3", conf)
  end)

  it("off a terminal (both streams pipes): no bar and no control character anywhere", function()
    local e = slow_export()
    local out, err = tmp .. "/o.txt", tmp .. "/e.txt"
    local p = assert(io.popen(cli({ "download", e.id, "-o", tmp .. "/dl6" }) .. " >" .. sh_quote(out) .. " 2>"
      .. sh_quote(err) .. "; echo $?"))
    assert.equal("0", p:read("a"):match("%d+"))
    p:close()
    m:plan({ duration = 30 })
    local id = io.popen(cli({ "create", "attributes", "-i", "custom_id" })):read("a"):match("export_%w+")
    p = assert(io.popen(cli({ "wait", id, "--interval", "0.2" }) .. " >>" .. sh_quote(out) .. " 2>>" .. sh_quote(err)))
    p:read("a")
    p:close()
    local o, e2 = slurp(out), slurp(err)
    assert.falsy(o:gsub("\n", ""):find("%c"), o)            -- no control character but newlines
    assert.falsy(e2:gsub("\n", ""):find("%c"), e2)
    assert.matches("downloaded 3 file%(s%)", e2)
    assert.matches(id .. ": SUCCESS after", e2)
  end)
end)
