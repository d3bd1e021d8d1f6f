--- batchexport.class: the metatable of each object the library hands out
-- (client, task, reader): its methods on itself, a __name that Lua's own
-- messages use ("bad argument #1 (batchexport.task expected)"), and a
-- tostring saying which object it is and, in brackets, its state.
--
--   local Task = class("task", function(self) return self.state end)
--   tostring(task) --> "batchexport.task (running)"
return function(name, state)
  local class = { __name = "batchexport." .. name }
  class.__index = class
  function class.__tostring(self)
    return class.__name .. " (" .. state(self) .. ")"
  end
  return class
end
