--- Built-in commands: gt hooks list, gt trust, gt doctor.
local output = require("gt.output")
local json = require("gt.json")

--- Problems gt doctor finds in one rig: ledger, disk and git's worktree records compared.
local function rig_problems(rig, fix)
  local fs = require("gt.fs")
  local store = require("gt.store")
  local polecat = require("gt.polecat")
  local db = rig.town:ledger()
  local problems = {}
  local function add(kind, name, message, fixed)
    problems[#problems + 1] = { rig = rig.name, kind = kind, name = name, message = message,
      fixed = fixed or false }
  end
  local live = {}
  for _, a in ipairs(store.agents(db, rig.name, true)) do
    for _, op in ipairs(store.ops_running(db, a.id)) do
      local fixed = false
      if fix then
        local lk <close> = rig:lock("polecat-" .. a.name, "gt doctor --fix")
        polecat.recover(rig, a.name)
        fixed = true
      end
      add("interrupted", a.name, ("an interrupted %s (pid %d on %s) is unfinished"):format(op.kind,
        op.pid, op.host), fixed)
    end
  end
  for _, a in ipairs(store.agents(db, rig.name, false)) do
    live[a.name] = a
    if not a.worktree or not fs.stat(a.worktree) then
      add("missing", a.name, ("its worktree %s is gone (gt polecat remove %s ends it)"):format(
        a.worktree or "?", a.name))
    else
      local trust = require("gt.trust")
      local file = a.worktree .. "/" .. trust.HOOKS_FILE
      if fs.stat(file) then
        local status, real = trust.check(file)
        if status ~= "trusted" then
          add("untrusted", a.name, ("%s is %s (read it, then: gt trust %s)"):format(real,
            status == "changed" and "changed since it was trusted" or "not trusted", real))
        end
      end
    end
  end
  for _, wt in ipairs(require("gt.errors").checked("listing worktrees", rig:repo():worktrees())) do
    if not live[wt.name] then
      add("orphan-record", wt.name, ("git has a worktree record %s (at %s) that no polecat owns")
        :format(wt.name, wt.path))
    end
  end
  for _, name in ipairs(fs.dir(rig.root .. "/polecats") or {}) do
    if not live[name] then
      add("stray-folder", name, ("%s/polecats/%s belongs to no live polecat"):format(rig.root, name))
    end
  end
  return problems
end

return {
  {
    name = "hooks list",
    summary = "List the hooks user code registered, in the order they run.",
    flags = { { "--json", "Print JSON." } },
    run = function(cmd)
      local list = require("gt.hooks").list()
      if cmd.args.json then
        output.json(json.array(list))
        return 0
      end
      if #list == 0 then
        output.say("no hooks")
        return 0
      end
      for _, h in ipairs(list) do
        output.say("%-12s %s%s", h.event, h.where, h.only and ("  (only " .. h.only .. ")") or "")
      end
      return 0
    end,
  },
  {
    name = "trust",
    summary = "Trust a repository's hook file (.gt/hooks.lua) as it is now, or withdraw trust.",
    description = "A .gt/hooks.lua committed in a project runs only after you trust it: gt " ..
      "records its real path and SHA-256 in $XDG_STATE_HOME/gt/trust. A changed file needs new " ..
      "trust; an untrusted one is reported and never run. Trust in one polecat's copy covers the " ..
      "same content in the other polecats of the rig.",
    arguments = { { "file", "The file.", args = "?" } },
    flags = { { "--revoke", "Withdraw trust from the file." }, { "--list", "List trusted files." } },
    run = function(cmd)
      local trust = require("gt.trust")
      local errors = require("gt.errors")
      if cmd.args.list then
        for _, e in ipairs(trust.entries()) do output.say("%s  %s", e.sha, e.path) end
        return 0
      end
      if not cmd.args.file then errors.raise("usage", "trust needs a file (or --list)") end
      if cmd.args.revoke then
        trust.revoke(cmd.args.file)
        output.say("no longer trusted: %s", require("gt.fs").realpath(cmd.args.file) or cmd.args.file)
        return 0
      end
      local real, sha = trust.add(cmd.args.file)
      output.say("trusted %s (sha256 %s)", real, sha)
      return 0
    end,
  },
  {
    name = "doctor",
    summary = "Check user code, the ledger, the disk and git's records; --fix finishes interrupted work.",
    description = "Reports init files and module overrides that failed to load, repository " ..
      "hook files that are not trusted, interrupted commands, polecats whose worktree is gone, " ..
      "git worktree records and folders that belong to no polecat. --fix finishes or rolls " ..
      "back interrupted commands. " ..
      "Exits 1 when anything is left to fix.",
    flags = { { "--fix", "Finish or roll back interrupted commands." }, { "--json", "Print JSON." } },
    run = function(cmd)
      local startup = require("gt.startup")
      local problems = {}
      for _, p in ipairs(startup.problems) do
        problems[#problems + 1] = { kind = p.kind, path = p.path, message = p.message, fixed = false }
      end
      local ok_town, town = pcall(require("gt.town").find, cmd.args.town)
      if ok_town then
        local rigs = {}
        if cmd.args.rig then
          rigs[1] = town:find_rig(cmd.args.rig)
        else
          for _, r in ipairs(require("gt.rig").list(town)) do
            if not r.missing then rigs[#rigs + 1] = require("gt.rig").open(town, r.name) end
          end
        end
        for _, rig in ipairs(rigs) do
          for _, p in ipairs(rig_problems(rig, cmd.args.fix)) do problems[#problems + 1] = p end
          rig:close()
        end
        town:close()
      end
      local open = 0
      for _, p in ipairs(problems) do if not p.fixed then open = open + 1 end end
      if cmd.args.json then
        output.json({ ok = open == 0, problems = json.array(problems) })
        return open == 0 and 0 or 1
      end
      if #problems == 0 then
        output.say("no problems found%s", ok_town and "" or " (not inside a town: only user code checked)")
        return 0
      end
      for _, p in ipairs(problems) do
        local who = p.rig and (p.rig .. "/" .. p.name) or p.kind
        output.say("%s %s: %s", p.fixed and "fixed" or "problem", who, p.message)
      end
      return open == 0 and 0 or 1
    end,
  },
}
