--- Built-in commands: gt hooks list, gt trust, gt doctor. They parse, call, and print.
local output = require("gt.output")
local json = require("gt.json")
local errors = require("gt.errors")
local hooks = require("gt.hooks")
local trust = require("gt.trust")
local town = require("gt.town")
local layout = require("gt.layout")

return {
  {
    name = "hooks list",
    summary = "List the hooks user code registered, in the order they run.",
    flags = { { "--json", "Print JSON." } },
    run = function(cmd)
      output.listing(hooks.list(), { json = cmd.args.json, none = "no hooks",
        columns = { { "event", "EVENT" }, { "where", "WHERE" }, { "only", "ONLY" } } })
      return 0
    end,
  },
  {
    name = "trust",
    summary = "Trust a file (a repository's .gt/hooks.lua) as it is now, or a town or rig folder as yours.",
    description = "A .gt/hooks.lua committed in a project runs only after you trust it: gt " ..
      "records its real path and SHA-256 in $XDG_STATE_HOME/gt/trust. A changed file needs new " ..
      "trust; an untrusted one is reported and never run. Trust in one polecat's copy covers the " ..
      "same content in the other polecats of the rig. The init files and module overrides of a " ..
      "town or rig run only if gt init or gt rig add made it here, or you trust its folder " ..
      "(gt trust ~/gt), or that file.",
    arguments = { { "file", "The file, or a town or rig folder.", args = "?" } },
    flags = { { "--revoke", "Withdraw trust from the file." }, { "--list", "List trusted files." },
      { "--json", "Print JSON." } },
    run = function(cmd)
      if cmd.args.list then
        output.listing(trust.entries(), { json = cmd.args.json, none = "no trusted files",
          columns = { { "sha", "SHA256" }, { "path", "FILE" } } })
        return 0
      end
      if not cmd.args.file then errors.raise("usage", "trust needs a file (or --list)") end
      if cmd.args.revoke then
        local removed = trust.revoke(cmd.args.file)
        local real = trust.real_path(cmd.args.file)
        if cmd.args.json then
          output.json({ path = real, revoked = removed })
        else
          output.say("no longer trusted: %s", real)
        end
        return 0
      end
      local real, sha = trust.add(cmd.args.file)
      if cmd.args.json then
        output.json({ path = real, sha256 = sha, owned = sha == nil })
      elseif sha then
        output.say("trusted %s (sha256 %s)", real, sha)
      else
        output.say("trusted %s as yours: its init files and module overrides run", real)
      end
      return 0
    end,
  },
  {
    name = "doctor",
    summary = "Check user code, the ledger, the disk and git's records; --fix finishes interrupted work.",
    description = "Reports init files and module overrides that failed to load or were not " ..
      "run, a ledger that cannot be read, rig adds and polecat commands that were interrupted, " ..
      "a rig whose default branch origin no longer has, polecats whose worktree is gone, " ..
      "repository hook files that are not trusted, git worktree records and folders that " ..
      "belong to no polecat. Every rig is checked, even when one cannot be. --fix finishes or " ..
      "rolls back interrupted commands (refusing, as they would, to delete unsaved work) and " ..
      "makes a rig follow origin's new default branch; a command still running is left alone. " ..
      "Exits 1 when anything is left to fix.",
    flags = { { "--fix", "Finish or roll back interrupted commands, follow origin's default branch." },
      { "--json", "Print JSON." } },
    run = function(cmd)
      local ok_town, t = pcall(town.find, cmd.args.town)
      -- A town whose config cannot be read is a problem, not "not inside a town".
      local town_error = not ok_town and not (errors.is(t) and t.kind == "notfound") and t or nil
      -- Required here: every command module is loaded on each run (gt.commands), and the
      -- doctor brings the whole lifecycle with it.
      local problems = require("gt.doctor").run(ok_town and t or nil, { fix = cmd.args.fix,
        rig = cmd.args.rig, town_error = town_error })
      if ok_town then t:close() end
      local open = 0
      for _, p in ipairs(problems) do if not p.fixed and p.severity ~= "info" then open = open + 1 end end
      if cmd.args.json then
        output.json({ ok = open == 0, problems = json.array(problems) })
        return open == 0 and 0 or 1
      end
      if #problems == 0 then
        output.say("no problems found%s", (ok_town or town_error) and "" or
          " (not inside a town: only user code checked)")
        return 0
      end
      for _, p in ipairs(problems) do
        local who = p.rig and p.name and layout.id(p.rig, p.name) or p.rig and ("rig " .. p.rig) or p.kind
        output.say("%s %s: %s", p.fixed and "fixed" or p.severity == "info" and "note" or "problem", who, p.message)
      end
      return open == 0 and 0 or 1
    end,
  },
}
