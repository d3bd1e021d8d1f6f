-- README.md runs as written. Every fenced block whose info string is `lua`
-- or `sh` runs against a mock of Batch's servers, with the variables
-- `eval "$(bin/batchexport-mock start)"` exports (BATCH_*, MOCK_*):
--
--   lua     a fresh interpreter (the one running this suite) in an empty
--           folder, the module found through absolute LUA_PATH/LUA_CPATH,
--           as if installed
--   sh      bash -e in a folder that looks like the checkout (its entries
--           symlinked), with a private XDG_RUNTIME_DIR: any mock a block
--           starts and leaves is stopped afterwards. They name their Lua
--           (lua5.4, nginx's LuaJIT) whatever runs this suite, so they run
--           when it is Lua 5.4 only; the lua blocks run on every Lua.
--   output  the fenced block right after a run block: what it must print on
--           stdout, `...` standing for any text
--
-- A block not meant to run says so in its info string: ```lua norun.
-- Other languages (nginx, plain text) are shown, never run; a console
-- block (the command's example errors) is checked against real runs by
-- spec/cli_conventions_spec.lua.
local mock = require("spec.support.mock")
local h = require("spec.support.helpers")

local q = mock.sh_quote
local LUA = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
local RUN = { lua = true, sh = true }
local RUN_HERE = { lua = true, sh = LUA == "lua5.4" }
local SHOWN = { nginx = true, [""] = true, output = true, console = true, ini = true }

-- What a command line writes to stdout.
local function capture(cmd) return select(2, h.capture(cmd)) end

local ROOT = capture("pwd"):gsub("\n$", "")

local function absolute(path)
  return path:sub(1, 1) == "/" and path or (ROOT .. "/" .. path)
end

-- The README's fenced blocks: {line, lang, flags, text, output}.
local function fenced_blocks(path)
  local fh = assert(io.open(path, "rb"))
  local text = fh:read("*a")
  fh:close()
  local list, current, n = {}, nil, 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    if current then
      if line:match("^```%s*$") then
        current.text = table.concat(current.lines, "\n") .. "\n"
        list[#list + 1] = current
        current = nil
      else
        current.lines[#current.lines + 1] = line
      end
    else
      local info = line:match("^```(.*)$")
      if info then
        local words = {}
        for w in info:gmatch("%S+") do words[#words + 1] = w end
        current = { line = n, lang = words[1] or "", flags = {}, lines = {} }
        for i = 2, #words do current.flags[words[i]] = true end
      end
    end
  end
  assert(current == nil, path .. ": a fenced block is not closed")
  for i, b in ipairs(list) do
    if list[i + 1] and list[i + 1].lang == "output" then b.output = list[i + 1].text end
  end
  return list
end

-- The expected output as an anchored pattern: literal text, `...` any text.
local function output_pattern(expected)
  expected = expected:gsub("%s+$", "")
  local pieces, start = {}, 1
  while true do
    local i, j = expected:find("...", start, true)
    if not i then break end
    pieces[#pieces + 1] = (expected:sub(start, i - 1):gsub("%p", "%%%0"))
    start = j + 1
  end
  pieces[#pieces + 1] = (expected:sub(start):gsub("%p", "%%%0"))
  return "^" .. table.concat(pieces, ".-") .. "$"
end

local blocks = fenced_blocks("README.md")

describe("README.md", function()
  local m, tmp

  setup(function()
    m = mock.start({ workers = 1, speed = 50 })
    tmp = os.tmpname()
    os.remove(tmp)
    assert(os.execute("mkdir -p " .. q(tmp)))
  end)
  teardown(function()
    if m then m:stop() end
    if tmp then os.execute("rm -rf " .. q(tmp)) end
  end)

  -- The environment of every block: the mock's variables, and the module
  -- found from anywhere.
  local function environment(dir)
    local cpath = os.getenv("BATCHEXPORT_CPATH") or "build/?.so"
    local vars = {
      "LUA_PATH=" .. q(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"),
      "LUA_CPATH=" .. q(absolute(cpath) .. ";;"),
      "XDG_RUNTIME_DIR=" .. q(dir .. "/run"),
      "HOME=" .. q(dir),
    }
    for k, v in pairs(m.env) do vars[#vars + 1] = k .. "=" .. q(v) end
    return "env -u MOCK_PREFIX " .. table.concat(vars, " ")
  end

  -- Stops the mocks a block started and left running.
  local function stop_left_mocks(dir)
    local registry = capture("ls -d " .. q(dir) .. "/run/batchexport-mock-* 2>/dev/null"):gsub("\n$", "")
    if registry == "" then return end
    for name in capture("ls " .. q(registry)):gmatch("[^\n]+") do
      local fh = io.open(registry .. "/" .. name, "rb")
      local prefix = fh and fh:read("*l")
      if fh then fh:close() end
      if prefix then os.execute(q(mock.bin) .. " stop --prefix " .. q(prefix) .. " >/dev/null 2>&1") end
    end
  end

  local function run(block, index)
    local dir = tmp .. "/block" .. index
    assert(os.execute("mkdir -p " .. q(dir .. "/run") .. " && chmod 700 " .. q(dir .. "/run")))
    local work = dir .. "/work"
    assert(os.execute("mkdir -p " .. q(work)))
    local script = dir .. "/block." .. block.lang
    local fh = assert(io.open(script, "wb"))
    fh:write(block.text)
    fh:close()
    local command
    if block.lang == "lua" then
      command = LUA .. " " .. q(script)
    else
      -- a folder that looks like the checkout, without writing into it
      for entry in capture("ls -A " .. q(ROOT)):gmatch("[^\n]+") do
        if entry ~= ".git" then os.execute("ln -s " .. q(ROOT .. "/" .. entry) .. " " .. q(work .. "/" .. entry)) end
      end
      command = "bash -e " .. q(script)
    end
    local errfile = dir .. "/stderr"
    local out = capture("cd " .. q(work) .. " && " .. environment(dir) .. " timeout 300 " .. command ..
      " 2>" .. q(errfile) .. "; echo \"exit=$?\"")
    stop_left_mocks(dir)
    local efh = io.open(errfile, "rb")
    local err = efh and efh:read("*a") or ""
    if efh then efh:close() end
    local code = tonumber(out:match("exit=(%d+)%s*$"))
    return code, (out:gsub("exit=%d+%s*$", "")), err
  end

  it("has only blocks it knows how to run or show", function()
    local ran = 0
    for _, b in ipairs(blocks) do
      assert.truthy(RUN[b.lang] or SHOWN[b.lang],
        "README.md:" .. b.line .. ": ```" .. b.lang .. " is neither run (lua, sh) nor shown (nginx, ini, output, console, plain)")
      if RUN[b.lang] and not b.flags.norun then ran = ran + 1 end
    end
    assert.truthy(ran >= 10, "only " .. ran .. " blocks run")
  end)

  for index, block in ipairs(blocks) do
    if RUN_HERE[block.lang] and not block.flags.norun then
      it("README.md:" .. block.line .. " (" .. block.lang .. ") runs" ..
        (block.output and " and prints what the README shows" or ""), function()
        m:reset()
        local code, out, err = run(block, index)
        assert.equal(0, code, "README.md:" .. block.line .. " exited " .. tostring(code) ..
          "\n--- stdout\n" .. out .. "--- stderr\n" .. err)
        if block.output then
          local trimmed = out:gsub("%s+$", "")
          assert.truthy(trimmed:match(output_pattern(block.output)),
            "README.md:" .. block.line .. " printed\n" .. out .. "\nthe README shows\n" .. block.output)
        end
      end)
    end
  end
end)
