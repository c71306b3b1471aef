--- gt.polecat.spawn: the steps that make a polecat (docs/design.md §4), as data.
--
-- Each step is {name, run = fn(ctx), undo = fn(ctx)?}; run may return facts to keep in the
-- journal. gt.polecat.add runs them in order under the polecat's lock, journaling each; what
-- the built-in steps make (branch, folder, worktree) is taken apart by gt.reap if the add fails
-- or was killed (gt.polecat.journal). A step a user adds (table.insert(gt.polecat.spawn_steps,
-- ...)) may bring an undo of its own, run newest first before that.
local fs = require("gt.fs")
local git = require("gt.git")
local errors = require("gt.errors")
local branch = require("gt.branch")
local layout = require("gt.layout")
local store = require("gt.store")
local hooks = require("gt.hooks")
local usercode = require("gt.usercode")
local filters = require("gt.filters")
local output = require("gt.output")
local progress = require("gt.progress")

local spawn = {}

local check, check_doing = errors.check, errors.check_doing

--- Reason recorded in git's worktree lock while a polecat works: an outside
--- `git worktree prune` cannot reap it.
function spawn.lock_reason(rig, name)
  return "gt: " .. layout.id(rig.name, name)
end

--- The facts of one spawn of polecat `name` of `rig` at `ms`, all decided before anything is
--- touched, so that the journal can undo it later from them alone.
function spawn.context(rig, name, issue, ms)
  return {
    rig = rig,
    name = name,
    issue = issue,
    id = layout.id(rig.name, name),
    branch = branch.format(name, issue, ms),
    home = layout.home(rig.root, name),
    path = layout.worktree(rig.root, rig.name, name),
  }
end

--- git's record of worktree `name` in `repo`, or nil.
function spawn.worktree_record(repo, name)
  for _, wt in ipairs(check(repo:worktrees())) do
    if wt.name == name then return wt end
  end
  return nil
end

--- The table hooks receive for a spawn: rig, name, path (the worktree), branch, issue, start
--- (the revision it starts from; a pre_spawn hook may change it), start_commit (its id, from
--- post_spawn on), town and rig_root (folders).
function spawn.hook_context(ctx)
  return { rig = ctx.rig.name, name = ctx.name, path = ctx.path, branch = ctx.branch,
    issue = ctx.issue, start = ctx.start_ref or ctx.rig:start_ref(), start_commit = ctx.start,
    town = ctx.rig.town.root, rig_root = ctx.rig.root }
end

--- The steps, in order (gt.polecat.spawn_steps is this table).
spawn.steps = {
  {
    name = "fetch",
    run = function(ctx)
      if ctx.fetch then ctx.rig:fetch("gt polecat add " .. ctx.name) end
    end,
  },
  {
    name = "branch",
    run = function(ctx)
      local repo = ctx.rig:repo()
      local start_ref = ctx.start_ref or ctx.rig:start_ref()
      ctx.start = repo:resolve(start_ref)
      if not ctx.start and start_ref == ctx.rig:start_ref() then
        errors.raise("failure", "%s not found in %s/.repo.git (is origin's %s branch gone? " ..
          "gt rig set-default %s follows origin's new default)", start_ref, ctx.rig.root,
          ctx.rig.config.default_branch, ctx.rig.name)
      elseif not ctx.start then
        errors.raise("failure", "%s not found in %s/.repo.git", start_ref, ctx.rig.root)
      end
      check_doing("creating branch " .. ctx.branch, repo:branch_create(ctx.branch, ctx.start))
      return { start = ctx.start } -- the journal's proof of what the branch holds
    end,
  },
  {
    name = "folder",
    run = function(ctx)
      check(fs.mkdir_p(layout.polecats(ctx.rig.root)))
      check_doing("creating " .. ctx.home, fs.mkdir(ctx.home))
    end,
  },
  {
    name = "worktree",
    run = function(ctx)
      -- Only git's metadata is written under the rig lock; the checkout comes next, outside it.
      local lk <close> = ctx.rig:lock("git", "gt polecat add " .. ctx.name)
      check_doing("adding worktree " .. ctx.path, ctx.rig:repo():worktree_add(ctx.name, ctx.path,
        ctx.branch, { lock = spawn.lock_reason(ctx.rig, ctx.name), checkout = false }))
    end,
  },
  {
    name = "checkout",
    run = function(ctx)
      -- The files in parallel (GT_JOBS threads); only those an attribute or setting may convert
      -- go through git's conversion (gt.filters.plan), smudge commands included.
      local plan = filters.plan(ctx.rig:repo(), ctx.start, ctx.rig.town:ledger())
      local w <close> = check_doing("opening worktree", git.open(ctx.path))
      local bar <close> = progress.start("Writing files")
      local written, warnings, code = w:write_tree_into("HEAD",
        { jobs = math.tointeger(tonumber(os.getenv("GT_JOBS") or "")), filters = plan,
          progress = bar.callback })
      bar:finish()
      check_doing("checking out " .. ctx.branch, written, warnings, code)
      for _, warning in ipairs(warnings or {}) do output.warn("%s", warning) end
    end,
  },
  {
    -- A .gt/hooks.lua the project commits runs only if the user trusts it (gt.usercode).
    name = "repo_hooks",
    run = function(ctx)
      usercode.load_repo_hooks(ctx.path, ctx.id)
    end,
  },
  {
    name = "working",
    run = function(ctx)
      local db = ctx.rig.town:ledger()
      store.tx(db, function()
        store.agent_set_state(db, ctx.id, "working", "spawned",
          { branch = ctx.branch, worktree = ctx.path, start = ctx.start })
      end)
    end,
  },
  {
    name = "post_spawn",
    run = function(ctx)
      hooks.run("post_spawn", spawn.hook_context(ctx), { cwd = ctx.path, scope = ctx.id })
    end,
  },
}

--- The names of `steps`, in order (the plan a journal operation records).
function spawn.step_names(steps)
  local list = {}
  for i, s in ipairs(steps) do list[i] = s.name end
  return list
end

return spawn
