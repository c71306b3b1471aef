--- gt.doctor: what is wrong with a town, and what --fix can mend (DESIGN §1.4).
--
-- Each check reports problems { kind, rig, name, message, fixed }; with fix, a check mends what
-- it safely can: it finishes or rolls back interrupted commands (through the same gates as the
-- commands themselves, so nothing unsaved is deleted: a refusal is a problem left open), makes
-- a rig follow origin's renamed default branch, deletes a polecat branch no polecat has (its
-- commits saved first unless a remote has them) and a half-written worktree record with no
-- index (what a git command wrote as gt removed its worktree). A command still running holds
-- its lock and is left alone. A rig that cannot be checked is a problem of its own; the others
-- are still checked.
local fs = require("gt.fs")
local lock = require("gt.lock")
local errors = require("gt.errors")
local store = require("gt.store")
local trust = require("gt.trust")
local sys = require("gt.sys")
local branch = require("gt.branch")
local salvage = require("gt.salvage")

local doctor = {}

--- Whether a process has a file open under folder `dir` (its top level).
local function in_use(dir)
  for _, n in ipairs(fs.dir(dir) or {}) do
    if sys.open_by(dir .. "/" .. n) then return true end
  end
  return false
end

local function message_of(e)
  if errors.is(e) then return e.message end
  return tostring(e)
end

--- Whether the lock at `path` is held by a running command: returns its holder's description
--- when it is; otherwise nil (and the lock is free: the caller takes it with its own timeout).
local function running(path)
  local lk, err, code = lock.try(path, { what = "gt doctor" })
  if lk then
    lk:release()
    return nil
  end
  if code == "ELOCKED" then return err end
  return nil
end

--- Problems of the rig `rig` (an open gt.Rig): interrupted commands, stale default branch,
--- missing worktrees, untrusted hook files, git records and folders no polecat owns.
function doctor.check_rig(rig, fix, add)
  local polecat = require("gt.polecat")
  local db = rig.town:ledger()

  local stale = rig:stale_default()
  if stale then
    local fixed = false
    if fix then
      -- A fetch learns origin's HEAD, and the rig follows it (gt.rig).
      local ok, head = rig:repo():fetch("origin", { prune = true })
      if ok then rig:follow_origin_head(head) end
      if not stale.origin_head then stale = rig:stale_default() or stale end
      if stale.origin_head and rig:stale_default() then rig:set_default(stale.origin_head) end
      fixed = rig:stale_default() == nil
    end
    add("stale-default", nil, ("origin has no branch %s any more%s: gt rig set-default %s %s"):format(
      stale.branch, stale.origin_head and (" (its default is now " .. stale.origin_head .. ")") or "",
      rig.name, stale.origin_head or "[BRANCH] (without BRANCH: the one origin's HEAD names)"), fixed)
  end

  local pending = {} -- trash folders running operations know of
  local busy = {}    -- polecats with an operation running: their other symptoms are its
  for _, op in ipairs(store.ops_running(db)) do
    local name = op.agent:match("^" .. rig.name:gsub("%p", "%%%0") .. "/(.+)$")
    if name then
      busy[name] = true
      if op.data.trash then pending[op.data.trash:match("[^/]+$")] = true end
      local holder = running(rig.root .. "/.gt/locks/polecat-" .. name .. ".lock")
      local what = ("an interrupted %s (pid %d)"):format(op.kind, op.pid)
      if holder then -- luacheck: ignore 542
        -- A command at work: not a problem, and not doctor's to touch.
      elseif fix then
        local ok, err = pcall(function()
          local lk <close> = rig:lock("polecat-" .. name, "gt doctor --fix")
          return polecat.recover(rig, name, {})
        end)
        if ok then
          add("interrupted", name, what .. " was finished", true)
        else
          add("interrupted", name, what .. " is unfinished: " .. message_of(err), false)
        end
      else
        add("interrupted", name, what .. " is unfinished (gt doctor --fix ends it)", false)
      end
    end
  end

  local live = {}
  for _, a in ipairs(store.agents(db, rig.name, false)) do
    live[a.name] = a
    if busy[a.name] then -- luacheck: ignore 542
      -- Its interrupted operation is the problem (reported above).
    elseif not a.worktree or not fs.stat(a.worktree) then
      add("missing", a.name, ("its worktree %s is gone (gt polecat remove %s ends it)"):format(
        a.worktree or "?", a.name))
    else
      local file = a.worktree .. "/" .. trust.HOOKS_FILE
      if fs.lstat(file) then
        local status, real = trust.check(file)
        if not status then
          add("untrusted", a.name, ("%s cannot be used: %s"):format(file, real))
        elseif status ~= "trusted" then
          add("untrusted", a.name, ("%s is %s (read it, then: gt trust %s)"):format(real,
            status == "changed" and "changed since it was trusted" or "not trusted", real))
        end
      end
    end
  end
  local repo = rig:repo()
  for _, wt in ipairs(errors.check_doing("listing worktrees", repo:worktrees())) do
    if not live[wt.name] and not busy[wt.name] then
      local admin = repo:commondir() .. "worktrees/" .. wt.name
      local fixed = false
      -- A half-written record with no index is git's bookkeeping of a worktree that is gone
      -- (a reflog a git command wrote as gt removed it): nothing of the user's is in it.
      if fix and wt.broken and not fs.lstat(admin .. "/index") and not in_use(admin) then
        fixed = fs.remove_tree(admin) == true
      end
      add("orphan-record", wt.name, ("git has a worktree record %s (%s) that no polecat owns")
        :format(wt.name, wt.broken and "half-written" or ("at " .. wt.path)), fixed)
    end
  end
  local owned = {}
  for _, a in pairs(live) do if a.branch then owned[a.branch] = true end end
  for _, op in ipairs(store.ops_running(db)) do
    if op.data.branch then owned[op.data.branch] = true end
  end
  for _, ref in ipairs(errors.check_doing("listing branches", repo:refs("refs/heads/polecat/*"))) do
    local b = ref.name:sub(#"refs/heads/" + 1)
    local name = branch.parse(b)
    if name and not owned[b] then
      local fixed = false
      if fix then
        -- Made (or made again) by a git command after its polecat was removed: its commits are
        -- kept in a salvage unless a remote has them all.
        local _, unpushed = repo:commits_not_on(ref.oid, "refs/remotes/*", 1)
        if unpushed ~= 0 then salvage.keep_commit(rig, name, ref.oid) end
        fixed = repo:branch_delete(b, { expect = ref.oid }) == true
      end
      add("stray-branch", name, ("branch %s belongs to no live polecat%s"):format(b,
        fixed and "" or " (gt doctor --fix saves its commits and deletes it)"), fixed)
    end
  end
  for _, name in ipairs(fs.dir(rig.root .. "/polecats") or {}) do
    if name:match("^%.trash%-") then
      if not pending[name] then
        add("stray-folder", name, ("%s/polecats/%s is what is left of a removal gt no longer " ..
          "knows of; look at it, then delete it yourself"):format(rig.root, name))
      end
    elseif not live[name] then
      add("stray-folder", name, ("%s/polecats/%s belongs to no live polecat"):format(rig.root, name))
    end
  end
end

--- Problems of the town's rigs as a whole: rig adds that were interrupted, folders that look
--- like rigs but are not registered.
local function check_rig_adds(town, fix, add)
  local rig = require("gt.rig")
  local db = town:ledger()
  local names = {}
  for _, op in ipairs(store.ops_running(db)) do
    if op.kind == "rig_add" then names[op.agent] = op end
  end
  for _, n in ipairs(fs.dir(town.root) or {}) do
    if not names[n] and n:match("^[%w]") and rig.half_made(town, n) then
      -- No journal says gt made it (a gt from before the journal, a ledger restored from an
      -- older backup): it is not gt's to delete.
      add(n)("half-made-rig", nil, ("%s/%s holds a repository but is no rig of the ledger; look " ..
        "at it, then move it away yourself"):format(town.root, n), false)
    end
  end
  for name in pairs(names) do
    local holder = running(town.root .. "/.gt/locks/rig-" .. name .. ".lock")
    if not holder then
      local what = ("a rig add that did not finish left %s/%s"):format(town.root, name)
      if fix then
        local ok, err = pcall(function()
          local lk <close> = rig.lock(town, name, "gt doctor --fix")
          return rig.recover(town, name)
        end)
        add(name)("interrupted", nil, what .. (ok and " (rolled back)" or (": " .. message_of(err))), ok)
      else
        add(name)("interrupted", nil, what .. " (gt doctor --fix rolls it back)", false)
      end
    end
  end
end

--- Checks the town `town` (an open gt.Town; nil when none was found) and the user code this run
--- loaded (`startup_problems`). Returns the problems, and whether the town could be checked.
function doctor.run(town, opts)
  opts = opts or {}
  local problems = {}
  local function adder(rig_name)
    return function(kind, name, message, fixed)
      problems[#problems + 1] = { kind = kind, rig = rig_name, name = name, message = message,
        fixed = fixed or false }
    end
  end
  for _, p in ipairs(opts.startup_problems or {}) do
    problems[#problems + 1] = { kind = p.kind, path = p.path, message = p.message, fixed = false }
  end
  if not town then return problems end
  local ok, err = pcall(town.ledger, town)
  if not ok then
    local rigs = {}
    for _, n in ipairs(fs.dir(town.root) or {}) do
      if fs.stat(town.root .. "/" .. n .. "/.gt/rig.lua") then rigs[#rigs + 1] = n end
    end
    table.sort(rigs)
    adder(nil)("ledger", nil, message_of(err) .. (#rigs > 0 and (" (rigs on disk: " ..
      table.concat(rigs, ", ") .. "; their folders are untouched)") or ""), false)
    return problems
  end
  local rig = require("gt.rig")
  check_rig_adds(town, opts.fix, adder)
  local names = {}
  if opts.rig then
    names[1] = opts.rig
  else
    for _, r in ipairs(rig.list(town)) do
      if r.missing then
        adder(r.name)("missing-rig", nil, ("the folder %s is gone"):format(r.path))
      else
        names[#names + 1] = r.name
      end
    end
  end
  for _, name in ipairs(names) do
    local add = adder(name)
    local rok, rerr = pcall(function()
      local r = rig.open(town, name)
      local cok, cerr = pcall(doctor.check_rig, r, opts.fix, add)
      r:close()
      if not cok then error(cerr, 0) end
    end)
    if not rok then add("broken-rig", nil, ("cannot be checked: %s"):format(message_of(rerr))) end
  end
  return problems
end

return doctor
