--- gt.doctor: what is wrong with a town, and what --fix can mend (docs/design.md §1.4), in the
--- shape of Neovim's vim.health: checks are functions, each reports what it finds through a
--- reporter, and a problem may carry the fix for it.
---
---   gt.doctor.register("my rig policy", function(report, town)
---     report:ok("every rig has a README")
---     report:warn("no-readme", "rig x has no README", { rig = "x" })
---     report:error("bad", "rig y is wrong", { rig = "y", fix = function() ... return true end })
---   end)
---
--- A problem (info, warn or error) is { kind, severity, rig, name, path, message, fixed }. With --fix
--- its fix runs: fix() returns whether it mended it, and optionally the message to say instead;
--- a fix that raises leaves the problem open, with the error after its message.
---
--- The built-in checks: the user code this run loaded (gt.usercode), the ledger, interrupted
--- rig adds, and each rig: its default branch, interrupted polecat commands (finished or rolled
--- back through the same gates as the commands themselves, so nothing unsaved is deleted: a
--- refusal is a problem left open), missing worktrees, untrusted hook files, git records,
--- branches and folders no polecat owns. A command still running holds its lock and is left
--- alone. A rig that cannot be checked is a problem of its own; the others are still checked.
local fs = require("gt.fs")
local lock = require("gt.lock")
local sys = require("gt.sys")
local errors = require("gt.errors")
local layout = require("gt.layout")
local progress = require("gt.progress")
local store = require("gt.store")
local trust = require("gt.trust")
local usercode = require("gt.usercode")
local rig = require("gt.rig")
local salvage = require("gt.salvage")
local reap = require("gt.reap")
local journal = require("gt.polecat.journal")
local trash = require("gt.trash")
local polecat = require("gt.polecat")
local sweep = require("gt.sweep")
local session = require("gt.session")

local doctor = {}

local function message_of(e)
  if errors.is(e) then return e.message end
  return tostring(e)
end

-- The reporter -------------------------------------------------------------------------------

local Report = {}
Report.__index = Report

--- Notes that `message` was checked and found right.
function Report:ok(message)
  self.oks[#self.oks + 1] = { section = self.section, message = message }
end

local function problem(self, severity, kind, message, opts)
  opts = opts or {}
  local p = { kind = kind, severity = severity, rig = opts.rig or self.rig, name = opts.name,
    path = opts.path, message = message, fixed = false }
  if opts.fix and self.fix then
    local ok, fixed, said = pcall(opts.fix)
    if ok then
      p.fixed = fixed == true
      p.message = said or message
    else
      p.message = message .. ": " .. message_of(fixed)
    end
  end
  self.problems[#self.problems + 1] = p
  return p
end

--- Reports something to look at. opts: rig, name (what it is about), path, fix.
function Report:warn(kind, message, opts) return problem(self, "warn", kind, message, opts) end

--- Reports something this host is not to act on (another host's unfinished operation, on a
--- shared ledger): listed, never fixed, and no reason to exit 1.
function Report:note(kind, message, opts)
  return problem(self, "info", kind, message, { rig = opts.rig, name = opts.name, path = opts.path })
end

--- Reports something wrong. opts: rig, name (what it is about), path, fix.
function Report:error(kind, message, opts) return problem(self, "error", kind, message, opts) end

-- Helpers ------------------------------------------------------------------------------------

--- Whether a process has a file open under folder `dir` (its top level).
local function in_use(dir)
  for _, n in ipairs(fs.dir(dir) or {}) do
    if sys.open_by(dir .. "/" .. n) then return true end
  end
  return false
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

-- The checks of a rig ------------------------------------------------------------------------

local function check_default_branch(report, r)
  local stale = r:stale_default()
  if not stale then return report:ok("origin has the default branch") end
  report:error("stale-default", ("origin has no branch %s any more%s: gt rig set-default %s %s"):format(
    stale.branch, stale.origin_head and (" (its default is now " .. stale.origin_head .. ")") or "",
    r.name, stale.origin_head or "[BRANCH] (without BRANCH: the one origin's HEAD names)"), { fix = function()
      -- A fetch learns origin's HEAD, and the rig follows it (gt.rig).
      local ok, head = r:fetch_origin()
      if ok then r:follow_origin_head(head) end
      if not stale.origin_head then stale = r:stale_default() or stale end
      if stale.origin_head and r:stale_default() then r:set_default(stale.origin_head) end
      return r:stale_default() == nil
    end })
end

--- Interrupted polecat commands. Returns the polecats with an operation running (their other
--- symptoms are its).
local function check_interrupted(report, r)
  local busy = {}
  for _, op in ipairs(store.ops_running(r.town:ledger())) do
    local rig_name, name = layout.split_id(op.agent)
    if rig_name == r.name and not store.is_local(r.town:ledger(), op) then
      -- Another host's (a shared ledger): its disk is there, and so is the doctor that ends it.
      report:note("other-host", ("an %s of host %s (pid %d) is unfinished: under way, or gt doctor " ..
        "--fix on %s ends it"):format(op.kind, op.host, op.pid, op.host), { name = name })
    elseif rig_name == r.name and op.kind ~= trash.KIND then -- the trash: check_trash
      busy[name] = true
      -- A reuse (keyed by the new name) holds the idle polecat's worktree too (gt.polecat.idle).
      if op.kind == "reuse" and op.data.old then busy[op.data.old] = true end
      local lockname = layout.polecat_lock(name)
      local what = ("an interrupted %s (pid %d)"):format(op.kind, op.pid)
      if not running(layout.lock(r.root, lockname)) then -- a command at work is not doctor's
        report:error("interrupted", what .. " is unfinished (gt doctor --fix ends it)", { name = name,
          fix = function()
            local ok, err = pcall(function()
              local lk <close> = r:lock(lockname, "gt doctor --fix")
              return journal.recover(r, name, {})
            end)
            if ok then return true, what .. " was finished" end
            return false, what .. " is unfinished: " .. message_of(err)
          end })
      end
    end
  end
  return busy
end

--- The commit HEAD of worktree record `admin` last pointed at, from its reflog (logs/HEAD), or
--- nil.
local function last_head(admin)
  local log = fs.read_file(admin .. "/logs/HEAD", { max_bytes = 64 * 1024 * 1024 })
  local last
  for new in (log or ""):gmatch("%x+ (%x+) [^\n]*") do last = new end
  return last
end

--- A live polecat's branch deleted by hand: its worktree's HEAD names a branch that is gone. The
--- fix makes it again where the worktree's HEAD last was (its reflog), so no commit is lost.
local function check_branch(report, r, a)
  local repo = r:repo()
  if not a.branch or repo:branch_lookup(a.branch) then return end
  local admin = layout.worktree_admin(repo:commondir(), a.name)
  local tip = last_head(admin)
  report:error("branch-gone", ("its branch %s is gone%s"):format(a.branch, tip and
    (" (gt doctor --fix makes it again at " .. tip:sub(1, 12) .. ", where its worktree last was)") or
    ""), { name = a.name, fix = tip and function()
      errors.check_doing("making branch " .. a.branch, repo:branch_create(a.branch, tip))
      return true, ("its branch %s was gone: made again at %s"):format(a.branch, tip:sub(1, 12))
    end or nil })
end

--- git's lock files that a process left when it died (reap.stale_lock): they hold no work, and
--- block every git command that needs the file they lock.
local function check_git_locks(report, r)
  local common = r:repo():commondir()
  local found = {}
  local function scan(dir, depth)
    for _, n in ipairs(fs.dir(dir) or {}) do
      local path = dir .. "/" .. n
      if n:match("%.lock$") then
        if reap.stale_lock(path) then found[#found + 1] = path end
      elseif depth > 0 and (fs.lstat(path) or {}).type == "directory" and n ~= "objects" then
        scan(path, depth - 1)
      end
    end
  end
  scan(common:gsub("/$", ""), 6)
  table.sort(found)
  for _, path in ipairs(found) do
    report:warn("stale-lock", ("%s is a lock file left by a git or gt that died (gt doctor --fix " ..
      "removes it)"):format(path), { path = path, fix = function()
        return reap.stale_lock(path) and os.remove(path) == true
      end })
  end
end

--- Sessions recorded as running whose process is gone (killed, or the machine restarted), and
--- working polecats whose last session ended without `gt polecat done` (stalled). Read without
--- recording anything: only --fix records a dead session's end.
local function check_sessions(report, r)
  local db = r.town:ledger()
  for _, s in ipairs(store.sessions_open(db)) do
    local rig_name, name = layout.split_id(s.agent)
    if rig_name == r.name and store.is_local(db, s) and not session.alive(s) then
      report:error("dead-session", ("its session (pid %d) is gone, its end not recorded (gt doctor " ..
        "--fix records it)"):format(s.pid), { name = name, fix = function()
          session.last(r, name) -- records the end of a session found gone
          return store.session_last(db, s.agent).ended_at ~= nil,
            ("its session (pid %d) was gone: its end is recorded"):format(s.pid)
        end })
    end
  end
  for _, a in ipairs(store.agents(db, r.name, false, true)) do
    local s = a.state == "working" and store.session_last(db, a.id)
    local info = s and session.info(s, a)
    if info and info.state ~= "none" and not session.alive(s) then
      report:warn("stalled", ("its session ended (%s) and its work was not handed in: gt polecat " ..
        "done, run or remove %s"):format(s.ended_at and session.describe(info) or "gone", a.name),
        { name = a.name })
    end
  end
end

local function check_polecats(report, r, busy)
  local live = {}
  for _, a in ipairs(store.agents(r.town:ledger(), r.name, false, true)) do
    live[a.name] = a
    if busy[a.name] then -- luacheck: ignore 542
      -- Its interrupted operation is the problem (reported already).
    elseif not a.worktree or not fs.stat(a.worktree) then
      -- Its folder deleted (or moved) by hand: what its branch holds is saved, then it goes.
      report:error("missing", ("its worktree %s is gone (gt polecat remove --force %s, or gt doctor " ..
        "--fix, saves its branch's commits and ends it)"):format(a.worktree or "?", a.name), { name = a.name,
        fix = function()
          local results = polecat.remove(r, { a.name }, { force = true })
          local saved = results[1] and results[1].salvage
          return true, ("its worktree %s was gone: removed%s"):format(a.worktree or "?",
            saved and (", its commits saved to " .. saved.ref) or "")
        end })
    else
      check_branch(report, r, a)
      local file = a.worktree .. "/" .. layout.HOOKS_FILE
      if fs.lstat(file) then
        local status, real = trust.check(file)
        if not status then
          report:warn("untrusted", ("%s cannot be used: %s"):format(file, real), { name = a.name })
        elseif status ~= "trusted" then
          report:warn("untrusted", ("%s is %s (read it, then: gt trust %s)"):format(real,
            status == "changed" and "changed since it was trusted" or "not trusted", real), { name = a.name })
        end
      end
    end
  end
  return live
end

local function check_records(report, r, live, busy)
  local repo = r:repo()
  for _, wt in ipairs(errors.check_doing("listing worktrees", repo:worktrees())) do
    if not live[wt.name] and not busy[wt.name] then
      local admin = layout.worktree_admin(repo:commondir(), wt.name)
      local fix
      -- A half-written record with no index is git's bookkeeping of a worktree that is gone
      -- (a reflog a git command wrote as gt removed it): nothing of the user's is in it.
      if wt.broken and not fs.lstat(admin .. "/index") then
        fix = function() return not in_use(admin) and fs.remove_tree(admin) == true end
      end
      report:error("orphan-record", ("git has a worktree record %s (%s) that no polecat owns")
        :format(wt.name, wt.broken and "half-written" or ("at " .. wt.path)), { name = wt.name, fix = fix })
    end
  end
end

-- Branches and folders no polecat owns: found by gt.sweep, which gt polecat gc collects from.
local function check_branches(report, r, owners)
  local repo = r:repo()
  for _, s in ipairs(sweep.stray_branches(r, owners)) do
    local message = ("branch %s belongs to no live polecat"):format(s.branch)
    report:error("stray-branch", message .. " (gt doctor --fix saves its commits and deletes it)", {
      name = s.name, fix = function()
        -- Made (or made again) by a git command after its polecat was removed: its commits
        -- are kept in a salvage unless a remote has them all.
        local _, unpushed = repo:commits_not_on(s.oid, "refs/remotes/*", 1)
        if unpushed ~= 0 then salvage.keep_commit(r, s.name, s.oid) end
        local deleted = repo:branch_delete(s.branch, { expect = s.oid }) == true
        return deleted, deleted and message or nil
      end })
  end
end

local function check_folders(report, r, owners)
  for _, s in ipairs(sweep.stray_folders(r, owners)) do
    if s.trash then
      report:warn("stray-folder", ("%s is what is left of a removal gt no longer knows of; " ..
        "look at it, then delete it yourself"):format(s.path), { name = s.name })
    else
      report:warn("stray-folder", ("%s belongs to no live polecat (gt polecat gc deletes it when " ..
        "nothing in it is unsaved)"):format(s.path), { name = s.name })
    end
  end
end

--- The rig's trash (gt.trash): an entry whose background deletion was interrupted (its
--- deleter killed, or never started) is emptied by --fix, proven as it goes; an entry no
--- operation knows is left to the user. An entry a deleter is at work on is left alone.
local function check_trash(report, r)
  local known = {}
  for _, op in ipairs(store.ops_running(r.town:ledger())) do
    if op.data.entry then known[op.data.entry] = true end
  end
  for _, item in ipairs(trash.pending(r)) do
    local what = ("the deletion of %s (a removed polecat's folder) was interrupted"):format(item.path)
    if not trash.busy(item) then
      report:error("trash", what .. " (gt doctor --fix finishes it)", { name = item.op.data.name,
        path = item.path, fix = function()
          -- A deleter started meanwhile (by a remove this run made) is waited for.
          trash.empty(r, item, { wait = true })
          return true, what .. ": finished"
        end })
    end
  end
  local root = layout.trash_root(r.root)
  for _, n in ipairs(fs.dir(root) or {}) do
    local path = root .. "/" .. n
    if not known[path] then
      report:warn("stray-trash", ("%s is what is left of a removal gt no longer knows of; look at it, " ..
        "then delete it yourself"):format(path), { path = path })
    end
  end
end

--- Checks rig `r` (an open gt.Rig) into `report`.
function doctor.check_rig(report, r)
  check_default_branch(report, r)
  local busy = check_interrupted(report, r)
  local live = check_polecats(report, r, busy)
  check_records(report, r, live, busy)
  local owners = sweep.owners(r)
  check_branches(report, r, owners)
  check_folders(report, r, owners)
  check_trash(report, r)
  check_git_locks(report, r)
  check_sessions(report, r)
end

-- The checks of a town -----------------------------------------------------------------------

local function check_user_code(report)
  for _, p in ipairs(usercode.problems) do
    report:error(p.kind, p.message, { path = p.path })
  end
  if #usercode.problems == 0 then report:ok("user code loaded") end
end

--- The ledger opens; else the rigs on disk are named (their folders are untouched). Returns
--- whether it opened.
local function check_ledger(report, town)
  local ok, err = pcall(town.ledger, town)
  if ok then
    report:ok("the ledger opens")
    return true
  end
  local rigs = {}
  for _, n in ipairs(fs.dir(town.root) or {}) do
    if fs.stat(layout.rig_config(layout.rig_root(town.root, n))) then rigs[#rigs + 1] = n end
  end
  table.sort(rigs)
  report:error("ledger", message_of(err) .. (#rigs > 0 and (" (rigs on disk: " ..
    table.concat(rigs, ", ") .. "; their folders are untouched)") or ""))
  return false
end

--- Rig adds that were interrupted, and folders that look like rigs but are not registered.
local function check_rig_adds(report, town)
  local adds = {}
  for _, op in ipairs(store.ops_running(town:ledger())) do
    if op.kind == "rig_add" and store.is_local(town:ledger(), op) then
      adds[op.agent] = op
    elseif op.kind == "rig_add" then
      report:note("other-host", ("a rig add of %s on host %s (pid %d) is unfinished: under way, or " ..
        "gt doctor --fix on %s ends it"):format(op.agent, op.host, op.pid, op.host), { rig = op.agent })
    end
  end
  for _, n in ipairs(fs.dir(town.root) or {}) do
    if not adds[n] and n:match("^[%w]") and rig.half_made(town, n) then
      -- No journal says gt made it (a gt from before the journal, a ledger restored from an
      -- older backup): it is not gt's to delete.
      report:warn("half-made-rig", ("%s/%s holds a repository but is no rig of the ledger; look " ..
        "at it, then move it away yourself"):format(town.root, n), { rig = n })
    end
  end
  for name in pairs(adds) do
    if not running(layout.rig_add_lock(town.root, name)) then
      local what = ("a rig add that did not finish left %s"):format(layout.rig_root(town.root, name))
      report:error("interrupted", what .. " (gt doctor --fix rolls it back)", { rig = name, fix = function()
        local ok, err = pcall(function()
          local lk <close> = rig.lock(town, name, "gt doctor --fix")
          return rig.recover(town, name)
        end)
        return ok, what .. (ok and " (rolled back)" or (": " .. message_of(err)))
      end })
    end
  end
end

--- The rigs to check (opts.rig, or every registered one; a registered rig whose folder is gone
--- is a problem).
local function rigs_to_check(report, town, only)
  if only then return { only } end
  local list = {}
  for _, r in ipairs(rig.list(town)) do
    if r.elsewhere then
      report:ok(("rig %s is not on this host (gt rig add %s %s clones it here)"):format(r.name, r.name, r.url))
    elseif r.missing then
      report:error("missing-rig", ("the folder %s is gone"):format(r.path), { rig = r.name })
    else
      list[#list + 1] = r.name
    end
  end
  return list
end

-- Running ------------------------------------------------------------------------------------

local extra = {}

--- Adds a check of the user's: `fn(report, town)` runs after the built-in ones, whenever a town
--- was found (an error it raises is a problem of its own).
function doctor.register(name, fn)
  if type(name) ~= "string" or type(fn) ~= "function" then
    error("doctor.register needs a name and a function", 2)
  end
  extra[#extra + 1] = { name = name, fn = fn }
end

--- Runs the checks on the town `town` (an open gt.Town; nil when none was found: only the user
--- code is checked). opts: fix (mend what can be), rig (check only this rig), town_error (why
--- the town that was found could not be opened: a problem of its own). Returns the
--- problems ({kind, severity, rig, name, path, message, fixed}) and what was found right
--- ({section, message}).
function doctor.run(town, opts)
  opts = opts or {}
  local report = setmetatable({ problems = {}, oks = {}, fix = opts.fix == true }, Report)
  -- The sweep's progress on a terminal (gt.progress): sections checked of the total (the rigs
  -- join it once the ledger lists them).
  local bar <close> = progress.start("Checking")
  local done, total = 0, 1 + (opts.town_error and 1 or 0) + (town and 2 + #extra or 0)
  local function section(name, rig_name)
    report.section, report.rig = name, rig_name
    bar:update(done, total, name)
    done = done + 1
  end
  section("user code")
  check_user_code(report)
  if opts.town_error then
    section("town")
    report:error("town-config", message_of(opts.town_error))
  end
  if not town then return report.problems, report.oks end
  section("ledger")
  if not check_ledger(report, town) then return report.problems, report.oks end
  section("rig adds")
  check_rig_adds(report, town)
  local rig_names = rigs_to_check(report, town, opts.rig)
  total = total + #rig_names
  for _, name in ipairs(rig_names) do
    section("rig " .. name, name)
    local ok, err = pcall(function()
      local r = rig.open(town, name)
      local cok, cerr = pcall(doctor.check_rig, report, r)
      r:close()
      if not cok then error(cerr, 0) end
    end)
    if not ok then report:error("broken-rig", ("cannot be checked: %s"):format(message_of(err))) end
  end
  for _, check in ipairs(extra) do
    section(check.name)
    local ok, err = pcall(check.fn, report, town)
    if not ok then report:error("check-failed", ("check %s failed: %s"):format(check.name, message_of(err))) end
  end
  bar:update(done, total)
  return report.problems, report.oks
end

return doctor
