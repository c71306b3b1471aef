--- gt.hooks: user functions that run at points of the polecat lifecycle.
--
--   gt.hooks.on("post_spawn", function(ctx) ... end)
--
-- Events: pre_spawn, post_spawn, pre_remove, post_remove. Hooks run in registration order;
-- an error propagates to the lifecycle, which decides what it means (veto, roll back, report).
local hooks = {}

hooks.EVENTS = { pre_spawn = true, post_spawn = true, pre_remove = true, post_remove = true }

local registered = { pre_spawn = {}, post_spawn = {}, pre_remove = {}, post_remove = {} }

--- Registers `fn` to run on `event`; returns a function that unregisters it.
function hooks.on(event, fn)
  if not hooks.EVENTS[event] then
    error(("unknown hook event %q (events: pre_spawn, post_spawn, pre_remove, post_remove)"):format(
      tostring(event)), 2)
  end
  if type(fn) ~= "function" then error("hook must be a function", 2) end
  local list = registered[event]
  local entry = { fn = fn, source = debug.getinfo(fn, "S") }
  list[#list + 1] = entry
  return function()
    for i, e in ipairs(list) do
      if e == entry then table.remove(list, i) return end
    end
  end
end

--- Returns the hooks registered for `event` as {fn, where = "file:line"}.
function hooks.list(event)
  local out = {}
  for _, e in ipairs(registered[event] or {}) do
    out[#out + 1] = { fn = e.fn, where = e.source.short_src .. ":" .. e.source.linedefined }
  end
  return out
end

--- Runs the hooks of `event` with `ctx`, in order. The first error stops the run and is raised
--- again, prefixed with the event and where the hook was defined.
function hooks.run(event, ctx)
  for _, e in ipairs(registered[event]) do
    local ok, err = pcall(e.fn, ctx)
    if not ok then
      local where = e.source.short_src .. ":" .. e.source.linedefined
      error(require("gt.errors").new("failure", "%s hook (%s): %s", event, where, tostring(err)), 0)
    end
  end
end

return hooks
