--- Built-in commands: gt rig add, gt rig list, gt rig set-default. They parse, call gt.rig,
--- and print.
local output = require("gt.output")
local progress = require("gt.progress")
local sys = require("gt.sys")
local rig = require("gt.rig")

return {
  {
    name = "rig add",
    summary = "Add a rig: a bare clone of a repository that polecats branch from.",
    description = "Clone URL-OR-PATH (bare) into <town>/NAME/.repo.git, with origin's branches " ..
      "at refs/remotes/origin/*. The default branch is origin's HEAD unless --branch is given. " ..
      "Bad names, existing rigs and empty repositories are refused; a failure removes " ..
      "everything the command made.",
    arguments = { { "name", "Name of the rig." }, { "source", "Repository URL or local path." } },
    options = { { "--branch", "Branch polecats start from (default: origin's HEAD).", argname = "<branch>" } },
    flags = { { "--json", "Print JSON." } },
    needs = "town",
    run = function(cmd)
      local bar <close> = progress.transfer("Receiving objects")
      local r = rig.add(cmd.town, cmd.args.name, cmd.args.source, { branch = cmd.args.branch,
        progress = bar.callback })
      bar:finish()
      if cmd.args.json then
        output.json({ name = r.name, path = r.root, url = r.config.url, default_branch = r.config.default_branch })
      else
        output.say("added rig %s at %s (default branch %s)", r.name, r.root, r.config.default_branch)
      end
      return 0
    end,
  },
  {
    name = "rig set-default",
    summary = "Make another branch of origin the one polecats start from (after origin renamed its own).",
    description = "Fetch origin, then make BRANCH (default: the branch origin's HEAD names now) " ..
      "the rig's default branch: new polecats start from origin/BRANCH, and commits merged into " ..
      "it count as saved.",
    arguments = { { "name", "Name of the rig." }, { "branch", "A branch of origin.", args = "?" } },
    flags = { { "--json", "Print JSON." } },
    needs = "town",
    run = function(cmd)
      local r = rig.open(cmd.town, cmd.args.name)
      local old = r.config.default_branch
      local branch = r:change_default(cmd.args.branch)
      if cmd.args.json then
        output.json({ name = r.name, default_branch = branch, was = old })
      else
        output.say("rig %s starts polecats from origin/%s%s", r.name, branch,
          old ~= branch and (" (was " .. old .. ")") or "")
      end
      r:close()
      return 0
    end,
  },
  {
    name = "rig list",
    summary = "List the rigs of the town.",
    flags = { { "--json", "Print JSON." } },
    needs = "town",
    run = function(cmd)
      local rigs = rig.list(cmd.town)
      local now = sys.now_ms()
      output.listing(rigs, { json = cmd.args.json, none = "no rigs (add one with gt rig add NAME URL-OR-PATH)",
        columns = { { "name", "RIG" }, { "branch", "BRANCH" }, { "polecats", "POLECATS" },
          { "age", "AGE" }, { "url", "URL" } },
        cells = function(r)
          return { name = r.name, branch = r.default_branch, polecats = tostring(r.polecats),
            age = output.age(now - r.added_at), url = r.url .. (r.missing and "  (folder missing)" or
              r.elsewhere and "  (not on this host: gt rig add " .. r.name .. " URL clones it)" or "") }
        end })
      return 0
    end,
  },
  {
    name = "rig remove",
    summary = "Remove a rig and its polecats, refusing (exit 3) to lose work unless forced.",
    description = "Remove every polecat of the rig as gt polecat remove does, all or nothing: a " ..
      "polecat holding work that exists nowhere else makes the command refuse, unless --force, " ..
      "which saves that work first. The rig's folder is then moved to <town>/.gt/removed/ and " ..
      "deleted only if its repository holds nothing a clone of origin lacks (salvages, kept " ..
      "branches, stashes); otherwise it is kept there, and the command says so.",
    arguments = { { "name", "Name of the rig." } },
    flags = { { "-f --force", "Save the polecats' unsaved work, then remove." },
      { "-n --dry-run", "Print what would be done; change nothing." }, { "--json", "Print JSON." } },
    needs = "town",
    run = function(cmd)
      local rig_remove = require("gt.rig_remove")
      local plan
      if cmd.args.dry_run then
        plan = rig_remove.plan(cmd.town, cmd.args.name, { force = cmd.args.force })
        plan.rig:close()
      else
        plan = rig_remove.run(cmd.town, cmd.args.name, { force = cmd.args.force })
      end
      if cmd.args.json then
        output.json({ name = cmd.args.name, dry_run = cmd.args.dry_run or false,
          polecats = require("gt.json").array(plan.polecats), steps = require("gt.json").array(plan.steps),
          kept = plan.kept and plan.archive or nil })
      elseif cmd.args.dry_run then
        output.say("would remove rig %s:", cmd.args.name)
        for _, s in ipairs(plan.steps) do output.say("  %s", s) end
      else
        output.say("removed rig %s", cmd.args.name)
        if plan.kept then
          output.say("  its folder is kept at %s: %s", plan.archive, plan.kept)
        end
      end
      return 0
    end,
  },
}
