--- Built-in commands: gt polecat gc|stale|check-recovery. They parse, call gt.sweep and
--- gt.polecat, and print.
local output = require("gt.output")
local json = require("gt.json")
local sys = require("gt.sys")
local errors = require("gt.errors")

-- The lifecycle is required in the run functions (gt.commands loads every command module on
-- each run).
local function lifecycle()
  return require("gt.sweep")
end

local null = require("dkjson").null

--- Reads a duration ("90s", "30m", "2h", "3d", "1w", "1h30m") into milliseconds.
local function duration_ms(text, flag)
  local ms = output.parse_duration(text)
  if not ms then
    errors.raise("usage", "%s needs a duration such as 30m, 12h, 3d or 1w, got %s", flag, errors.quote(text))
  end
  return ms
end

--- A gc plan entry as JSON.
local function gc_json(e)
  return { kind = e.kind, name = e.name, branch = e.branch or null, path = e.path or null,
    oid = e.oid or null, action = e.action, result = e.result or null, reason = e.reason,
    holds = json.array(e.holds) }
end

--- A stale row as JSON.
local function stale_json(r)
  return { name = r.name, state = r.state, branch = r.branch or null, behind = r.behind or null,
    last_active = r.last_active, idle_ms = r.idle_ms, safe = r.safe, session = r.session,
    stale = r.stale, reason = r.reason, holds = json.array(r.holds) }
end

return {
  {
    name = "polecat gc",
    summary = "Delete the polecat branches and folders no polecat owns, when their work is safe elsewhere.",
    description = "Branches polecat/* that no live polecat owns are deleted when all their commits " ..
      "are on a remote or already in origin's default branch (merged, squash-merged or rebased); " ..
      "folders in polecats/ that no live polecat owns are deleted when nothing in them is " ..
      "unsaved, proven again as they are deleted. Anything else is kept, and listed with what it " ..
      "holds: gc never saves or drops work.",
    flags = { { "-n --dry-run", "Print what would be done; change nothing." }, { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local sweep = lifecycle()
      local plan = sweep.gc_plan(cmd.rig)
      if not cmd.args.dry_run then sweep.gc_run(cmd.rig, plan) end
      local entries = {}
      for _, e in ipairs(plan.folders) do entries[#entries + 1] = e end
      for _, e in ipairs(plan.branches) do entries[#entries + 1] = e end
      if cmd.args.json then
        local out = {}
        for i, e in ipairs(entries) do out[i] = gc_json(e) end
        output.json({ dry_run = cmd.args.dry_run or false, entries = json.array(out) })
        return 0
      end
      if #entries == 0 then output.say("nothing to collect: every polecat branch and folder has its polecat") end
      for _, e in ipairs(entries) do
        local what = e.kind == "branch" and ("branch " .. e.branch) or ("folder " .. e.path)
        local verb
        if cmd.args.dry_run then
          verb = e.action == "delete" and "would delete" or "would keep"
        else
          verb = e.result == "deleted" and "deleted" or e.result == "gone" and "already gone:" or "kept"
        end
        output.say("%s %s (%s)", verb, what, e.reason or "")
        for _, l in ipairs(e.holds) do output.say("  %s", l) end
      end
      return 0
    end,
  },
  {
    name = "polecat stale",
    summary = "Show which polecats are stale (far behind origin, or idle), and remove them with --cleanup.",
    description = "A polecat is stale when it is --behind commits or more behind origin's default " ..
      "branch (default 20), or idle (no change in the ledger, no session) for --idle-for or " ..
      "longer. One that holds work that exists nowhere else, has a session running or an " ..
      "operation unfinished is never stale. --cleanup removes the stale ones through " ..
      "gt polecat remove's gate, without --force: those that hold work are kept and listed.",
    options = { { "--behind", "Stale from this many commits behind (default 20).", argname = "<n>" },
      { "--idle-for", "Stale when idle this long (30m, 12h, 3d, 1w).", argname = "<duration>" } },
    flags = { { "--cleanup", "Remove the stale polecats that are safe to remove." },
      { "-n --dry-run", "With --cleanup: print what would be removed; change nothing." },
      { "--no-fetch", "Do not fetch origin first." },
      { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local behind = cmd.args.behind and math.tointeger(tonumber(cmd.args.behind))
      if cmd.args.behind and (not behind or behind < 1) then
        errors.raise("usage", "--behind needs a positive number, got %s", errors.quote(cmd.args.behind))
      end
      local idle_ms = cmd.args.idle_for and duration_ms(cmd.args.idle_for, "--idle-for")
      local sweep = lifecycle()
      if not cmd.args.no_fetch then cmd.rig:fetch("gt polecat stale") end
      local rows = sweep.stale(cmd.rig, { behind = behind, idle_ms = idle_ms })
      local plan = cmd.args.cleanup and sweep.cleanup_plan(rows) or nil
      local removed, kept
      if plan and not cmd.args.dry_run then removed, kept = sweep.cleanup_run(cmd.rig, plan) end
      if cmd.args.json then
        local out = {}
        for i, r in ipairs(rows) do out[i] = stale_json(r) end
        if not plan then
          output.json(json.array(out))
        else
          local names = {}
          for i, r in ipairs(removed or {}) do names[i] = r.name end
          output.json({ polecats = json.array(out), dry_run = cmd.args.dry_run or false,
            remove = json.array(plan.remove), removed = json.array(names), kept = json.array(kept or plan.keep) })
        end
        return 0
      end
      local now = sys.now_ms()
      output.listing(rows, { none = "no polecats", columns = { { "name", "NAME" }, { "state", "STATE" },
        { "behind", "BEHIND" }, { "active", "ACTIVE" }, { "stale", "STALE" }, { "reason", "WHY" } },
        cells = function(r)
          return { name = r.name, state = r.state, behind = r.behind and tostring(r.behind) or "?",
            active = output.age(now - r.last_active) .. " ago", stale = r.stale and "stale" or "-",
            reason = r.reason }
        end })
      if plan and cmd.args.dry_run then
        for _, n in ipairs(plan.remove) do output.say("would remove polecat %s", n) end
        for _, k in ipairs(plan.keep) do output.say("would keep polecat %s: %s", k.name, k.reason) end
      elseif plan then
        for _, r in ipairs(removed) do output.say("removed polecat %s", r.name) end
        for _, k in ipairs(kept) do output.say("kept polecat %s: %s", k.name, k.reason) end
      end
      return 0
    end,
  },
  {
    name = "polecat check-recovery",
    summary = "Say whether a polecat can be removed without losing work (exit 0), or needs recovery (exit 3).",
    description = "SAFE_TO_REMOVE when all of the polecat's work exists elsewhere (its commits on a " ..
      "remote or merged into origin's default branch, squash-merged and rebased included), and " ..
      "nothing else is in its worktree; else NEEDS_RECOVERY, with what exists nowhere else.",
    arguments = { { "name", "Name of the polecat." } },
    flags = { { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local sweep = lifecycle()
      local v = sweep.check_recovery(cmd.rig, cmd.args.name)
      if cmd.args.json then
        output.json({ rig = v.rig, name = v.name, state = v.state, branch = v.branch or null,
          issue = v.issue or null, verdict = v.verdict, safe = v.safe, savable = v.savable,
          absorbed = v.absorbed, reasons = json.array(v.reasons) })
      else
        output.say("polecat %s/%s: %s", v.rig, v.name, v.verdict)
        if v.safe then
          output.say("  all its work exists elsewhere%s", v.absorbed and " (its commits are merged into origin)" or "")
        end
        for _, l in ipairs(v.reasons) do output.say("  %s", l) end
      end
      return v.safe and 0 or errors.exit.refused
    end,
  },
}
