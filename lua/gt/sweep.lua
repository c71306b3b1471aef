--- gt.sweep: commands over many polecats, and over what no polecat owns (docs/design.md §6.1).
--
-- selection  the live polecats `remove` and `nuke` take with --all, --idle or --state S.
-- strays     polecat branches (refs/heads/polecat/*) and folders in polecats/ that no live
--            polecat or running operation owns; gt doctor reports them, gc collects them.
-- gc         a plan: each stray branch whose commits are all on a remote or in origin's
--            default branch (squash-merged and rebased ones included: gt.safety.absorbed), and
--            each stray folder gt.safety finds nothing unsaved in, is deleted (a folder through
--            gt.reap, which proves it again as it deletes it); any other is kept and listed with
--            what it holds. gc never saves or drops work: it leaves it.
-- stale      which polecats are stale (behind origin's default, or idle for long) and safe to
--            remove; the cleanup removes those through gt.polecat.remove, without --force.
-- recovery   whether a polecat can be removed without losing work (check-recovery).
--
-- Every destructive sweep builds a plan first; --dry-run prints that plan, a run executes it.
local fs = require("gt.fs")
local lock = require("gt.lock")
local sys = require("gt.sys")
local errors = require("gt.errors")
local output = require("gt.output")
local names = require("gt.names")
local layout = require("gt.layout")
local branch = require("gt.branch")
local store = require("gt.store")
local safety = require("gt.safety")
local reap = require("gt.reap")
local session = require("gt.session")
local polecat = require("gt.polecat")
local journal = require("gt.polecat.journal")

local sweep = {}

-- Selection -----------------------------------------------------------------------------------

--- The names of the live polecats of `rig` a command works on: `list` (names given), or those
--- `sel` selects: sel.all (every one), sel.idle (state idle), sel.state (that state). Raises a
--- usage error for names and a selection together, for two selections, or for neither.
function sweep.targets(rig, list, sel)
  sel = sel or {}
  local given = {}
  if sel.all then given[#given + 1] = "--all" end
  if sel.idle then given[#given + 1] = "--idle" end
  if sel.state then given[#given + 1] = "--state" end
  list = list or {}
  if #given > 1 then
    errors.raise("usage", "%s select polecats each: give one of them", table.concat(given, " and "))
  elseif #given == 1 and #list > 0 then
    errors.raise("usage", "name polecats or select them with %s, not both", given[1])
  elseif #given == 0 then
    if #list == 0 then errors.raise("usage", "name the polecats, or select them with --all, --idle or --state") end
    return list
  end
  local state = sel.state or (sel.idle and "idle") or nil
  if state and not store.LIVE[state] then
    local states = {}
    for s in pairs(store.LIVE) do states[#states + 1] = s end
    table.sort(states)
    errors.raise("usage", "--state %s: not the state of a live polecat (%s)", errors.quote(state),
      table.concat(states, ", "))
  end
  local selected = {}
  for _, p in ipairs(polecat.list(rig.town, rig, true)) do -- other hosts' are theirs
    if not state or p.state == state then selected[#selected + 1] = p.name end
  end
  return selected
end

-- Strays --------------------------------------------------------------------------------------

--- What the live polecats and the running operations of `rig` own: { live = {name -> ledger
--- row}, branches = {branch -> true}, trash = {folder name -> true} (the trash folders of
--- removals under way) }.
function sweep.owners(rig)
  local db = rig.town:ledger()
  local owners = { live = {}, branches = {}, trash = {} }
  for _, a in ipairs(store.agents(db, rig.name, false)) do
    owners.live[a.name] = a
    if a.branch then owners.branches[a.branch] = true end
  end
  for _, op in ipairs(store.ops_running(db)) do
    local rig_name = layout.split_id(op.agent)
    if rig_name == rig.name then
      if op.data.branch then owners.branches[op.data.branch] = true end
      if op.data.trash then owners.trash[op.data.trash:match("[^/]+$")] = true end
    end
  end
  return owners
end

--- The polecat branches of `rig` (refs/heads/polecat/*, in gt's two forms) that `owners`
--- (sweep.owners) do not own: { {branch, name, oid} }, sorted by branch.
function sweep.stray_branches(rig, owners)
  local list = {}
  for _, ref in ipairs(errors.check_doing("listing branches", rig:repo():refs("refs/heads/polecat/*"))) do
    local b = ref.name:sub(#"refs/heads/" + 1)
    local name = branch.parse(b)
    if name and not owners.branches[b] then list[#list + 1] = { branch = b, name = name, oid = ref.oid } end
  end
  table.sort(list, function(x, y) return x.branch < y.branch end)
  return list
end

--- The entries of `rig`'s polecats folder that `owners` (sweep.owners) do not own: { {name,
--- path, trash (a removal's trash folder no running operation knows)} }, sorted by name.
function sweep.stray_folders(rig, owners)
  local dir = layout.polecats(rig.root)
  local list = {}
  for _, n in ipairs(fs.dir(dir) or {}) do
    local trash = layout.is_trash(n)
    if (trash and not owners.trash[n]) or (not trash and not owners.live[n]) then
      list[#list + 1] = { name = n, path = dir .. "/" .. n, trash = trash }
    end
  end
  table.sort(list, function(x, y) return x.name < y.name end)
  return list
end

-- gc ------------------------------------------------------------------------------------------

local count = output.count

--- A plan entry for stray branch `s`: deleted when its commits are all on a remote or in
--- origin's default branch.
local function plan_branch(rig, s)
  local repo = rig:repo()
  local commits, total, absorbed = safety.unpushed(repo, { s.oid }, rig:start_ref(), 3)
  local entry = { kind = "branch", branch = s.branch, name = s.name, oid = s.oid, holds = {} }
  if total == 0 then
    entry.action, entry.reason = "delete", "all its commits are on a remote"
  elseif absorbed then
    entry.action, entry.reason = "delete", ("its changes are in %s (merged, squash-merged or rebased)"):format(
      "origin/" .. rig.config.default_branch)
  else
    local msgs = {}
    for i, c in ipairs(commits) do msgs[i] = c.oid:sub(1, 10) .. " " .. c.summary end
    entry.action, entry.reason = "keep", "it holds commits that exist nowhere else"
    entry.holds[1] = count(total, "commit on no remote", "commits on no remote") .. ": " .. output.some(msgs, 3)
  end
  return entry
end

--- A plan entry for stray folder `s`: deleted when gt.safety finds nothing unsaved in it (as it
--- would for a polecat of that name), its worktree's HEAD being saved.
local function plan_folder(rig, s)
  local entry = { kind = "folder", name = s.name, path = s.path, holds = {}, action = "keep" }
  local st = fs.lstat(s.path)
  if s.trash then
    entry.reason = "what is left of a removal gt no longer knows of: look at it, then delete it yourself"
    return entry
  elseif not st or st.type ~= "directory" then
    entry.reason = "not a folder"
    return entry
  elseif names.problem(s.name) then
    entry.reason = "not named as a polecat is"
    return entry
  end
  local repo = rig:repo()
  for _, wt in ipairs(errors.check_doing("listing worktrees", repo:worktrees())) do
    if wt.name == s.name and wt.path and wt.path ~= layout.worktree(rig.root, rig.name, s.name) then
      entry.reason = ("git's worktree record %s is of %s, not of this folder"):format(s.name, wt.path)
      return entry
    end
  end
  local report = safety.classify(rig, { name = s.name, worktree = layout.worktree(rig.root, rig.name, s.name) })
  entry.head = report.head
  if report.safe then
    entry.action, entry.reason = "delete", "nothing in it is unsaved"
  else
    entry.reason = report.savable and "it holds work that exists nowhere else" or "it holds work gt cannot save"
    entry.holds = safety.describe(report)
  end
  return entry
end

--- The plan of gt polecat gc for `rig`: { branches = {entry...}, folders = {entry...} }; an
--- entry is { kind, name, branch | path, oid, action ("delete" | "keep"), reason, holds (what
--- it holds that exists nowhere else, lines) }.
function sweep.gc_plan(rig)
  local owners = sweep.owners(rig)
  local plan = { branches = {}, folders = {} }
  for _, s in ipairs(sweep.stray_folders(rig, owners)) do plan.folders[#plan.folders + 1] = plan_folder(rig, s) end
  for _, s in ipairs(sweep.stray_branches(rig, owners)) do plan.branches[#plan.branches + 1] = plan_branch(rig, s) end
  return plan
end

--- Takes polecat `name`'s lock without waiting; nil when a command holds it.
local function try_polecat_lock(rig, name)
  local lk, err, code = lock.try(layout.lock(rig.root, layout.polecat_lock(name)), { what = "gt polecat gc" })
  if not lk and code == "ELOCKED" then return nil end
  return errors.check_doing(layout.polecat_lock(name), lk, err, code)
end

--- Deletes stray folder `entry` through gt.reap, journaled as a removal (a killed gc is
--- finished by the next command on the name, or gt doctor --fix). Sets entry.result.
local function collect_folder(rig, entry)
  local lk <close> = try_polecat_lock(rig, entry.name)
  if not lk then
    entry.result, entry.reason = "kept", "a command is at work on it"
    return
  end
  local db = rig.town:ledger()
  local id = layout.id(rig.name, entry.name)
  local agent = store.agent_get(db, id)
  if (agent and store.LIVE[agent.state]) or #store.ops_running(db, id) > 0 then
    entry.result, entry.reason = "kept", "a polecat has it now"
    return
  end
  if not fs.lstat(entry.path) then
    entry.result = "gone"
    return
  end
  local repo = rig:repo()
  local facts = { id = id, name = entry.name, home = entry.path, head = entry.head,
    covered = { entry.head and errors.check(repo:tree_of(entry.head)) or nil }, delete_branch = false }
  local op
  store.tx(db, function()
    op = store.op_begin(db, "remove", id, { "move", "prove", "delete", "prune" }, facts)
  end)
  -- Anything unsaved found now (it appeared since the plan) is left where it is.
  local ok, err = xpcall(reap.run, errors.handler, rig, facts, "restore", journal.persister(db, op))
  if ok then
    store.tx(db, function() store.op_finish(db, op, "done") end)
    entry.result = "deleted"
  elseif errors.is(err) and err.restored then
    store.tx(db, function() store.op_finish(db, op, "rolled_back") end)
    entry.result, entry.reason = "kept", err.message
  else
    error(err, 0) -- half-way: the journal has it
  end
end

--- Deletes stray branch `entry` while it is at the commit the plan judged. Sets entry.result.
local function collect_branch(rig, entry)
  local ok, err, code = reap.unstale(rig:repo(), "branch_delete", entry.branch, { expect = entry.oid })
  if ok or code == "ENOTFOUND" then
    entry.result = ok and "deleted" or "gone"
  elseif code == "ECHANGED" then
    entry.result, entry.reason = "kept", "it moved since it was judged"
  elseif code == "ECHECKEDOUT" then
    entry.result, entry.reason = "kept", "a worktree has it checked out"
  else
    errors.check_doing("deleting branch " .. entry.branch, ok, err, code)
  end
end

--- Executes the gc plan `plan` of `rig` (sweep.gc_plan): folders first (a stray worktree
--- frees its branch), then branches, each entry marked with its result ("deleted", "kept",
--- "gone"); a kept entry's reason says why. Returns the plan.
function sweep.gc_run(rig, plan)
  for _, entry in ipairs(plan.folders) do
    if entry.action == "delete" then collect_folder(rig, entry) else entry.result = "kept" end
  end
  local lk <close> = rig:lock("git", "gt polecat gc")
  for _, entry in ipairs(plan.branches) do
    if entry.action == "delete" then collect_branch(rig, entry) else entry.result = "kept" end
  end
  return plan
end

-- Stale ---------------------------------------------------------------------------------------

--- When polecat `agent` was last active: its ledger row's last change, or the end of its last
--- session `s` (its start while it runs), whichever is later.
local function last_activity(agent, s)
  local at = agent.updated_at
  if s then
    local t = s.ended_at or s.started_at
    if t and t > at then at = t end
  end
  return at
end

--- Assesses each live polecat of `rig`: { name, state, branch, behind (commits of origin's
--- default branch it lacks; nil when unknown), last_active (Unix ms), idle_ms, safe, holds
--- (what it holds that exists nowhere else), session (a session runs), stale, reason, held_back
--- (why it would be stale, when only its unsaved work keeps it) }.
--- opts: behind (stale from this many commits behind; default 20), idle_ms (stale when idle
--- this long; default: never). Unsaved work, a session or a command at work make a polecat not
--- stale, whatever else holds.
function sweep.stale(rig, opts)
  opts = opts or {}
  local threshold = opts.behind or 20
  local db = rig.town:ledger()
  local repo = rig:repo()
  local base = repo:resolve(rig:start_ref())
  local now = sys.now_ms()
  local rows = {}
  for _, agent in ipairs(store.agents(db, rig.name, false, true)) do
    local report = safety.classify(rig, agent)
    local tip = report.head or report.branch_tip
    local behind
    if base and tip then
      local _, b = repo:ahead_behind(tip, base)
      behind = math.type(b) == "integer" and b or nil
    end
    -- Its last session, recorded ended if its process is found gone.
    local s = session.last(rig, agent.name)
    local row = { name = agent.name, state = agent.state, branch = agent.branch, behind = behind,
      last_active = last_activity(agent, s), safe = report.safe, holds = safety.describe(report),
      session = s ~= nil and s.ended_at == nil, stale = false }
    row.idle_ms = now - row.last_active
    local old -- why it would be stale
    if behind and behind >= threshold then
      old = ("%s behind origin/%s"):format(count(behind, "commit", "commits"), rig.config.default_branch)
    elseif opts.idle_ms and row.idle_ms >= opts.idle_ms then
      old = ("idle for %s"):format(output.age(row.idle_ms))
    end
    if not report.safe then
      row.reason = "it holds work that exists nowhere else"
      row.held_back = old -- listed as kept by a cleanup
    elseif #store.ops_running(db, agent.id) > 0 then
      row.reason = "an operation on it is unfinished"
    elseif row.session then
      row.reason = "a session is running in it"
    elseif old then
      row.stale, row.reason = true, old
    else
      row.reason = ("%s behind, active %s ago"):format(behind and tostring(behind) or "?",
        output.age(row.idle_ms))
    end
    rows[#rows + 1] = row
  end
  return rows
end

--- The cleanup plan of `rows` (sweep.stale): { remove = {names}, keep = {{name, reason}} }: the
--- stale ones are removed; those that would be stale but hold unsaved work are kept.
function sweep.cleanup_plan(rows)
  local plan = { remove = {}, keep = {} }
  for _, r in ipairs(rows) do
    if r.stale then
      plan.remove[#plan.remove + 1] = r.name
    elseif r.held_back then
      plan.keep[#plan.keep + 1] = { name = r.name, reason = r.held_back ..
        ", but it holds work that exists nowhere else" }
    end
  end
  return plan
end

--- Executes cleanup plan `plan` of `rig`: each polecat is removed through gt.polecat.remove,
--- one at a time and without --force, so that one that holds work by now is refused (and
--- kept, with the refusal as reason) while the others go. Returns the removals' results and
--- the plan's keep list with the refused ones added.
function sweep.cleanup_run(rig, plan)
  local removed, kept = {}, { table.unpack(plan.keep) }
  for _, name in ipairs(plan.remove) do
    local ok, res = xpcall(polecat.remove, errors.handler, rig, { name })
    if ok then
      for _, r in ipairs(res) do removed[#removed + 1] = r end
    elseif errors.is(res) and (res.kind == "refused" or res.kind == "busy") then
      kept[#kept + 1] = { name = name, reason = res.message }
    else
      error(res, 0)
    end
  end
  return removed, kept
end

-- check-recovery ------------------------------------------------------------------------------

--- Whether polecat `name` of `rig` can be removed without losing anything: { rig, name, state,
--- branch, issue, verdict ("SAFE_TO_REMOVE" | "NEEDS_RECOVERY"), safe, savable, absorbed,
--- reasons (what it holds that exists nowhere else, gt.safety.describe) }.
function sweep.check_recovery(rig, name)
  local agent = polecat.get(rig, name)
  local report = safety.classify(rig, agent)
  local reasons = safety.describe(report)
  local ops = store.ops_running(rig.town:ledger(), agent.id)
  if #ops > 0 then
    reasons[#reasons + 1] = ("a %s (pid %d) is unfinished: under way, or interrupted (gt doctor " ..
      "--fix ends it)"):format(ops[1].kind, ops[1].pid)
  end
  local safe = report.safe and #ops == 0
  return { rig = rig.name, name = agent.name, state = agent.state, branch = agent.branch,
    issue = agent.issue, verdict = safe and "SAFE_TO_REMOVE" or "NEEDS_RECOVERY", safe = safe,
    savable = report.savable, absorbed = report.absorbed, reasons = reasons }
end

return sweep
