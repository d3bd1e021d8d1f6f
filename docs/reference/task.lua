--- A task `batchexport.spawn` returns: a coroutine the scheduler runs, in
-- which every network call and pause yields. (This file documents the API;
-- the code is lua/batchexport/scheduler.lua.)
-- @classmod task
-- @usage
-- local task = batchexport.spawn(function(id) return client.exports.wait_for(id) end, id)
-- batchexport.run()
-- print(task:status(), task:result())

--- Where the task is.
-- @function task:status
-- @treturn string `"ready"`, `"running"`, `"waiting"`, `"done"`, `"failed"` or `"cancelled"`
-- @usage
-- if job:status() == "done" then show(job:result()) end

--- Like `pcall`: `true, values...` once the function returned, `false, err`
-- if it raised or was cancelled, `nil` while it runs.
-- @function task:result
-- @return a boolean, then the values or the error
-- @usage
-- local ok, export_or_err = task:result()

--- Stops the task where it waits; its transfers are closed at once.
-- `task:result()` then gives `false, err` with `err.cancelled == true`.
-- @function task:cancel
-- @treturn boolean whether it stopped the task (false if it had ended)
-- @usage
-- task:cancel()

--- Waits for the task: yields inside another task, steps the scheduler
-- outside one.
-- @function task:wait
-- @tparam[opt] number timeout seconds
-- @return what `task:result()` gives
-- @usage
-- local ok, export = task:wait(60)
