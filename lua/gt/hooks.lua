--- gt.hooks: user functions that run at points of the polecat lifecycle (docs/hooks.md).
--
--   gt.hooks.on("post_spawn", function(ctx) ... end)
--
-- Events, and what an error in a hook means:
--   pre_spawn    before anything is made; an error vetoes the spawn. ctx.start may be changed.
--   post_spawn   runs inside the new worktree; an error rolls the whole spawn back.
--   pre_remove   after the safety classification (ctx.report); an error vetoes the removal,
--                even with --force.
--   post_remove  after the removal; an error is reported (exit 1), the removal stands.
-- Hooks run in registration order. Every error names the event and the file and line of the
-- hook where it happened.
local fs = require("gt.fs")
local errors = require("gt.errors")

local hooks = {}

hooks.EVENTS = { "pre_spawn", "post_spawn", "pre_remove", "post_remove" }
local is_event = {}
for _, e in ipairs(hooks.EVENTS) do is_event[e] = true end

local registered = { pre_spawn = {}, post_spawn = {}, pre_remove = {}, post_remove = {} }

-- Init files that failed to load: their hooks are missing ({path, message}).
local missing = {}

--- Records that the init file at `path` did not load: `why` is a one-line message naming the
--- file (and line). The hooks it would have registered are known to be missing.
function hooks.load_failed(path, why)
  missing[#missing + 1] = { path = path, why = why }
end

--- Raises (exit 1) when an init file did not load: a hook it registers (a guard, say) would
--- silently not run, so commands that run hooks refuse to go on without it. gt --clean runs
--- with no user code, deliberately.
function hooks.check_loaded()
  local m = missing[1]
  if m then
    errors.raise("failure", "refusing to run without the hooks of an init file that did not " ..
      "load: %s; fix it, or run gt --clean to go on without user code", m.why)
  end
end

--- Registers `fn` to run on `event`; returns a function that unregisters it.
---@param event "pre_spawn"|"post_spawn"|"pre_remove"|"post_remove"
---@param fn fun(ctx: table)
---@return fun() unregister
function hooks.on(event, fn)
  if not is_event[event] then
    error(("unknown hook event %s (events: %s)"):format(errors.quote(event),
      table.concat(hooks.EVENTS, ", ")), 2)
  end
  if type(fn) ~= "function" then error("a hook must be a function", 2) end
  local info = debug.getinfo(fn, "S")
  local file = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
  local list = registered[event]
  local entry = { fn = fn, file = file, line = info.linedefined, source = info.source }
  list[#list + 1] = entry
  return function()
    for i, e in ipairs(list) do
      if e == entry then table.remove(list, i) return end
    end
  end
end

--- Lists the hooks of `event` (of every event when nil), in the order they run:
--- { event, file, line, where = "file:line", only = agent id or nil }.
function hooks.list(event)
  local out = {}
  for _, ev in ipairs(hooks.EVENTS) do
    if event == nil or event == ev then
      for _, e in ipairs(registered[ev]) do
        out[#out + 1] = { event = ev, file = e.file, line = e.line,
          where = e.file .. ":" .. e.line, only = e.only }
      end
    end
  end
  return out
end

--- The line of hook `entry`'s file that was running when it raised, from the traceback.
local function failing_line(entry)
  for level = 2, 60 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.source == entry.source and info.currentline and info.currentline > 0 then
      return info.currentline
    end
  end
  return entry.line
end

--- Runs the hooks of `event` with `ctx`, in order. opts.cwd: folder the hooks run in (the
--- current folder is restored afterwards). opts.scope: agent id, for repository hooks. The first
--- error stops the run and is raised again as a gt error naming the event and where it
--- happened; a hook may raise a gt error of its own kind (gt.errors.new("refused", ...)),
--- otherwise it is of kind `opts.kind` (default "failure").
function hooks.run(event, ctx, opts)
  opts = opts or {}
  local list = registered[event]
  if #list == 0 then return end
  local back
  if opts.cwd then
    back = fs.cwd()
    errors.check_doing("entering " .. opts.cwd, fs.chdir(opts.cwd))
  end
  local ok, err = true, nil
  -- A copy: a hook may unregister itself (or another) as it runs.
  for _, entry in ipairs({ table.unpack(list) }) do
    if entry.only == nil or entry.only == opts.scope then
      local line
      ok, err = xpcall(entry.fn, function(e)
        line = failing_line(entry)
        return e
      end, ctx)
      if not ok then
        local where = entry.file .. ":" .. line
        local message
        if errors.is(err) then
          message = err.message
        else
          -- The hook's file and line are said once, in front.
          message = errors.full_path(tostring(err), entry.file)
          message = message:gsub("^" .. where:gsub("%p", "%%%0") .. ": ", "")
        end
        local kind = errors.is(err) and err.kind or opts.kind or "failure"
        err = errors.new(kind, "%s hook (%s): %s", event, where, message)
        break
      end
    end
  end
  if back then fs.chdir(back) end
  if not ok then error(err, 0) end
end

--- The registrations as they are now, for rollback and added_since (gt.usercode).
function hooks.checkpoint()
  local snap = {}
  for ev, list in pairs(registered) do snap[ev] = { table.unpack(list) } end
  return snap
end

--- Puts back the registrations of a checkpoint (a broken user file's hooks are dropped).
function hooks.rollback(snap)
  for ev, list in pairs(snap) do
    local target = registered[ev]
    for i = #target, 1, -1 do target[i] = nil end
    for i, e in ipairs(list) do target[i] = e end
  end
end

--- The registrations made since checkpoint `snap`, for restrict.
function hooks.added_since(snap)
  local added = {}
  for ev, list in pairs(registered) do
    local before = {}
    for _, e in ipairs(snap[ev]) do before[e] = true end
    for _, e in ipairs(list) do
      if not before[e] then added[#added + 1] = e end
    end
  end
  return added
end

--- Makes the registrations `entries` (from added_since) apply to polecat `id` only: the hooks
--- of a repository's hook file run for the polecat whose worktree holds it.
function hooks.restrict(entries, id)
  for _, e in ipairs(entries) do e.only = id end
end

return hooks
