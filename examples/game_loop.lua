--- examples/game_loop.lua: a host with its own loop (a game server, a TUI,
-- an ops console) that must keep its frame rate. It calls batchexport.step(0)
-- once a frame: that advances every transfer and task and returns at once.
-- Meanwhile one task creates an export, waits for it and downloads it.
--
--   eval "$(bin/batchexport-mock start)"
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/?.so;;" \
--     lua5.4 examples/game_loop.lua [out_dir] [interval_seconds]
local batchexport = require("batchexport")
local now = require("batchexport.core").now

local out_dir = arg[1] or "out"
local interval = tonumber(arg[2]) or 1
local FPS = 30

local client = batchexport.assert(batchexport.new({
  base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL"),
  rest_key = os.getenv("BATCH_REST_KEY"),
  project_key = os.getenv("BATCH_PROJECT_KEY"),
}))

local status = "starting"
local job = batchexport.spawn(function()
  status = "creating"
  local id = batchexport.assert(client.exports.create({
    export_type = "ATTRIBUTES", attributes = { "$email_address", "$region" }, identifiers = { "custom_id" },
  }))
  local export, err = client.exports.wait_for(id, { interval = interval, max_interval = 4 * interval,
    progress = function(e) status = "export " .. e.status end })
  if not export then error(err, 0) end
  status = "downloading"
  local paths
  paths, err = client.exports.download(export, { dir = out_dir,
    progress = function(done, total) status = string.format("downloading %d/%d bytes", done, total) end })
  if not paths then error(err, 0) end
  status = "done"
  return paths
end)

-- The host's sleep between frames. A real game would vsync or use its
-- engine's timer; a short blocking sleep stands in for it here.
local function sleep(seconds)
  if seconds > 0 then os.execute(string.format("sleep %.3f", seconds)) end
end
local ok_socket, socket = pcall(require, "socket")
if ok_socket then sleep = function(s) if s > 0 then socket.sleep(s) end end end

local frames, worst_step, started = 0, 0, now()
local next_frame, last_shown = started, nil
while job:status() ~= "done" and job:status() ~= "failed" do
  local t0 = now()
  batchexport.step(0)                          -- never waits
  worst_step = math.max(worst_step, now() - t0)
  frames = frames + 1
  if status ~= last_shown then                  -- "render"
    print(string.format("frame %4d  %5.2f s  %s", frames, now() - started, status))
    last_shown = status
  end
  next_frame = next_frame + 1 / FPS
  sleep(next_frame - now())
end

local elapsed = now() - started
local ok, result = job:result()
print(string.format("%d frames in %.2f s: %.1f fps (target %d); slowest step(0) %.2f ms",
  frames, elapsed, frames / elapsed, FPS, worst_step * 1000))
if not ok then
  print("export failed: " .. tostring(result))
  os.exit(1)
end
for _, path in ipairs(result) do print("wrote " .. path) end
