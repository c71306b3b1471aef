--- Built-in commands: gt polecat done|pool (docs/design.md §4.11). They parse, call gt.polecat,
--- and print.
local output = require("gt.output")
local json = require("gt.json")
local errors = require("gt.errors")

-- JSON null: a field without a value is still in the object.
local null = require("dkjson").null

return {
  {
    name = "polecat done",
    summary = "Hand a polecat's work in: push its branch (--push), then make it idle (or remove it).",
    description = "With --push, push the polecat's branch to origin under its own name (never to " ..
      "the default branch), then fetch. If the polecat then holds nothing that exists nowhere " ..
      "else (its commits on a remote, or merged into origin's default branch, squash merges " ..
      "included; no uncommitted or untracked files, no stashes), it becomes idle: its worktree " ..
      "stays, detached at its last commit, for gt polecat add to reuse, and its branch is " ..
      "deleted. With --remove it is removed instead. Otherwise nothing changes and the command " ..
      "exits 3, listing that work. Credentials for --push: none for local paths and file:// " ..
      "URLs, the ssh-agent's keys for ssh URLs; https credentials are not supported (push " ..
      "yourself, then run gt polecat done).",
    arguments = { { "name", "Name of the polecat." } },
    flags = { { "--push", "Push its branch to origin first (refs/heads/<branch>)." },
      { "--remove", "Remove it instead of making it idle." },
      { "--no-fetch", "Do not fetch origin first (without --push)." },
      { "-n --dry-run", "Print what would be done; change nothing." },
      { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local polecat = require("gt.polecat")
      local a = cmd.args
      local plan = polecat.done(cmd.rig, a.name, { push = a.push, remove = a.remove, dry_run = a.dry_run,
        fetch = not a.no_fetch })
      if a.json then
        output.json({ name = plan.name, dry_run = a.dry_run == true, state = plan.state or null,
          branch = plan.branch or null, pushed = plan.pushed or null,
          branch_deleted = plan.branch_deleted or false, steps = json.array(plan.steps) })
      elseif a.dry_run then
        output.say("would hand in polecat %s:", plan.name)
        for _, s in ipairs(plan.steps) do output.say("  %s", s) end
      else
        if plan.pushed then
          output.say("pushed %s (%s) to origin", plan.pushed.branch, plan.pushed.commit:sub(1, 12))
        end
        if plan.state == "removed" then
          output.say("removed polecat %s", plan.name)
        else
          output.say("polecat %s is idle%s", plan.name, plan.branch_deleted and
            (" (its branch " .. plan.branch .. " was deleted: its commits are on origin)") or "")
        end
      end
      return 0
    end,
  },
  {
    name = "polecat pool",
    summary = "Keep idle polecats ready for gt polecat add to reuse.",
    description = "Make new polecats, named from the rig's name pool, and make them idle at once, " ..
      "until the rig has --size idle polecats (default 1). gt polecat add then reuses one: its " ..
      "worktree moves to the new name and checks out the new branch, writing only the files " ..
      "that differ.",
    options = { { "--size", "How many idle polecats to keep (default 1).", argname = "<n>" } },
    flags = { { "-n --dry-run", "Print what would be done; change nothing." },
      { "--no-fetch", "Do not fetch origin first." }, { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local polecat = require("gt.polecat")
      local a = cmd.args
      local size = 1
      if a.size then
        size = math.tointeger(tonumber(a.size))
        if not size or size < 0 then
          errors.raise("usage", "--size needs a number of polecats (0 or more), got %s", errors.quote(a.size))
        end
      end
      local plan = polecat.pool(cmd.rig, { size = size, dry_run = a.dry_run,
        fetch = a.no_fetch and false or nil })
      if a.json then
        output.json({ rig = plan.rig, size = plan.size, dry_run = a.dry_run == true,
          idle = json.array(plan.idle), create = plan.create, created = json.array(plan.created) })
      elseif plan.create == 0 then
        output.say("rig %s has %d idle polecat%s (size %d): nothing to do", plan.rig, #plan.idle,
          #plan.idle == 1 and "" or "s", plan.size)
      elseif a.dry_run then
        output.say("would make %d idle polecat%s in rig %s (it has %d, size %d)", plan.create,
          plan.create == 1 and "" or "s", plan.rig, #plan.idle, plan.size)
      else
        output.say("made %d idle polecat%s in rig %s: %s", #plan.created, #plan.created == 1 and "" or "s",
          plan.rig, table.concat(plan.created, ", "))
      end
      return 0
    end,
  },
}
