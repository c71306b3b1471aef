--- Built-in commands: gt salvage list|show|restore|drop|prune. They parse, call gt.salvage, and
--- print.
local output = require("gt.output")
local json = require("gt.json")
local sys = require("gt.sys")
local errors = require("gt.errors")

-- gt.commands loads every command module on each run: the lifecycle is required in the run
-- functions, so that `gt rig list` or `gt --version` never compiles it.
local function lifecycle()
  return require("gt.salvage")
end

-- JSON null: a field without a value is still in the object.
local null = require("dkjson").null

--- A salvage entry (gt.salvage.describe) as a row of a listing: what it holds, in counts.
local function row(e)
  return { ref = e.ref, tail = e.tail, rig = e.rig, polecat = e.name, time = e.time,
    when = os.date("!%Y-%m-%dT%H:%M:%SZ", e.time // 1000), commit = e.commit, kind = e.kind,
    branch = e.branch or null, head = e.head or null, tip = e.tip or null, files = #e.changes,
    index = e.staged ~= nil, staged = e.staged and #e.staged or 0, stashes = #e.stashes,
    beside = #e.beside }
end

local COLUMNS = { { "tail", "SALVAGE" }, { "polecat", "POLECAT" }, { "age", "SAVED" },
  { "commit", "COMMIT" }, { "holds", "HOLDS" } }

--- The cells of a listing of salvage entries (`by_ref`: the entries by ref), at `now`.
local function cells(by_ref, now)
  return function(r)
    local e = by_ref[r.ref]
    return { tail = e.tail, polecat = e.name, age = output.age(now - e.time) .. " ago",
      commit = e.commit:sub(1, 12), holds = lifecycle().holds(e) }
  end
end

--- Prints salvage entries `list` as a listing (rows, or JSON with `extra` fields in each row).
local function listing(list, as_json, none, extra)
  local rows, by_ref = {}, {}
  for i, e in ipairs(list) do
    rows[i] = row(e)
    for k, v in pairs(extra or {}) do rows[i][k] = v end
    by_ref[e.ref] = e
  end
  output.listing(rows, { json = as_json, none = none, columns = COLUMNS,
    cells = cells(by_ref, sys.now_ms()) })
end

--- A list of {path, status} as "A path" lines (a letter per status, as git's --name-status).
local LETTER = { added = "A", modified = "M", deleted = "D", typechange = "T" }

--- Prints what salvage entry `e` holds, for people.
local function show(e, restore_hint)
  output.say("salvage %s", e.ref)
  output.say("  polecat  %s (rig %s)", e.name, e.rig)
  output.say("  saved    %s (%s ago)", os.date("%Y-%m-%d %H:%M:%S", e.time // 1000),
    output.age(sys.now_ms() - e.time))
  output.say("  commit   %s", e.commit)
  if e.kind == "commit" then
    output.say("  a branch tip kept as it was: %s", e.summary)
  else
    output.say("  branch   %s", e.branch or "-")
  end
  if e.head then output.say("  HEAD     %s", e.head) end
  if e.tip and e.tip ~= e.head then output.say("  tip      %s (the branch tip, not HEAD)", e.tip) end
  local function files(title, list)
    if #list == 0 then return end
    output.say("  %s:", title)
    for _, d in ipairs(list) do output.say("    %s %s", LETTER[d.status] or "?", d.path) end
  end
  files("files that differ from HEAD", e.changes)
  if e.staged then
    if #e.staged > 0 then
      files("staged (its index, against HEAD)", e.staged)
    else
      output.say("  staged: nothing (its index was HEAD's)")
    end
  end
  if #e.stashes > 0 then
    output.say("  stashes:")
    for _, st in ipairs(e.stashes) do
      output.say("    %s %s", st.oid:sub(1, 12), st.index and ("stash@{%d} %s"):format(st.index, st.message)
        or st.message or "")
    end
  end
  if #e.beside > 0 then
    output.say("  beside the worktree (in polecats/%s/):", e.name)
    for _, p in ipairs(e.beside) do output.say("    %s", p) end
  end
  if #e.what > 0 then
    output.say("  unsaved when it was saved:")
    for _, l in ipairs(e.what) do output.say("    %s", l) end
  end
  output.say("  restore with: %s", restore_hint)
end

--- Salvage entry `e` as JSON, with everything it holds.
local function show_json(e)
  local r = row(e)
  r.summary = e.summary
  r.files = json.array(e.changes)
  r.index = e.staged and json.array(e.staged) or null
  r.staged = nil
  local stashes = {}
  for i, st in ipairs(e.stashes) do
    stashes[i] = { oid = st.oid, index = st.index or null, message = st.message or null }
  end
  r.stashes = json.array(stashes)
  r.beside = json.array(e.beside)
  r.what = json.array(e.what)
  return r
end

return {
  {
    name = "salvage list",
    summary = "List the work gt saved in the rig (of one polecat with NAME).",
    description = "List the salvages of the rig, oldest first: what gt saved under " ..
      "refs/gt/salvage/<rig>/<name>/<stamp> when it removed a polecat holding unsaved work, " ..
      "with what each holds (files that differ from its HEAD, staged changes, stashes, files " ..
      "that were beside the worktree). Their names (<name>/<stamp>) are what gt salvage show, " ..
      "restore and drop take.",
    arguments = { { "name", "Only the salvages of this polecat.", args = "?" } },
    flags = { { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local salvage = lifecycle()
      listing(salvage.entries(cmd.rig, cmd.args.name), cmd.args.json,
        cmd.args.name and ("no salvages of polecat " .. cmd.args.name) or "no salvages")
      return 0
    end,
  },
  {
    name = "salvage show",
    summary = "Show what a salvage holds.",
    description = "Show the files of salvage REF that differ from its HEAD, what its index " ..
      "staged, its stashes, the files that were beside the worktree, and the branch tip. REF is " ..
      "the full ref or a tail of it that names one salvage (fixer-bot/mx2jnp0f).",
    arguments = { { "ref", "The salvage (its ref, or <name>/<stamp>)." } },
    flags = { { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local salvage = lifecycle()
      local e = salvage.describe(cmd.rig, salvage.find(cmd.rig, cmd.args.ref))
      if cmd.args.json then
        output.json(show_json(e))
      else
        show(e, ("gt salvage restore %s [--into NAME]"):format(e.tail))
      end
      return 0
    end,
  },
  {
    name = "salvage restore",
    summary = "Put a salvage's work back into a polecat.",
    description = "Restore salvage REF: its working tree (untracked files included), its index, " ..
      "its stashes and the files that were beside the worktree. Into a new polecat (default: " ..
      "the salvage's polecat's name, when free; --into NAME) that starts at the salvaged " ..
      "worktree's HEAD, its branch at the salvaged branch tip; or, with --into NAME of a live " ..
      "polecat, over its worktree, which must hold no unsaved work (exit 3) and be at the " ..
      "salvage's HEAD. A failure undoes it all. The salvage is kept (gt salvage drop deletes it).",
    arguments = { { "ref", "The salvage (its ref, or <name>/<stamp>)." } },
    options = { { "--into", "The polecat to restore into (new, or a clean live one).", argname = "<name>" } },
    flags = { { "-n --dry-run", "Print what would be done; change nothing." }, { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local salvage = lifecycle()
      local e = salvage.find(cmd.rig, cmd.args.ref)
      local plan = salvage.plan_restore(cmd.rig, e, { into = cmd.args.into })
      local done
      if not cmd.args.dry_run then done = salvage.restore(cmd.rig, plan) end
      if cmd.args.json then
        output.json({ ref = e.ref, name = plan.name, new = plan.new, dry_run = cmd.args.dry_run or false,
          branch = done and done.branch or null, path = plan.path, steps = json.array(plan.steps) })
      elseif done then
        output.say("restored %s into %s polecat %s", e.tail, plan.new and "new" or "live", plan.name)
        output.say("  branch  %s", done.branch or "-")
        output.say("  path    %s", done.path)
        for _, s in ipairs(plan.steps) do output.say("  %s", s) end
      else
        output.say("would restore %s into %s polecat %s:", e.tail, plan.new and "a new" or "live", plan.name)
        for _, s in ipairs(plan.steps) do output.say("  %s", s) end
      end
      return 0
    end,
  },
  {
    name = "salvage drop",
    summary = "Delete a salvage's ref (the work it held goes).",
    description = "Delete the ref of salvage REF, and nothing else. Its work then exists " ..
      "nowhere else, unless a branch, a remote or the stash list has it: dropping is your " ..
      "decision, and gt does not refuse it. Until git gc prunes them, the command printed " ..
      "(git update-ref REF COMMIT) brings it back.",
    arguments = { { "ref", "The salvage (its ref, or <name>/<stamp>)." } },
    flags = { { "-n --dry-run", "Print what would be done; change nothing." }, { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local salvage = lifecycle()
      local e = salvage.describe(cmd.rig, salvage.find(cmd.rig, cmd.args.ref))
      local step = salvage.drop_step(e)
      if not cmd.args.dry_run then salvage.drop(cmd.rig, e) end
      if cmd.args.json then
        output.json({ ref = e.ref, commit = e.commit, dry_run = cmd.args.dry_run or false,
          steps = json.array({ step }) })
      elseif cmd.args.dry_run then
        output.say("would drop %s:", e.tail)
        output.say("  %s", step)
      else
        output.say("dropped %s (commit %s: %s)", e.ref, e.commit:sub(1, 12), salvage.holds(e))
        output.say("  until git gc prunes it, get it back with: git -C %s update-ref %s %s",
          (cmd.rig:repo():commondir():gsub("/$", "")), e.ref, e.commit)
      end
      return 0
    end,
  },
  {
    name = "salvage prune",
    summary = "Drop the salvages older than a duration.",
    description = "Delete the refs of the rig's salvages saved more than DURATION ago " ..
      "(30d, 12h, 90m, 1w; units s, m, h, d, w), as gt salvage drop does for each.",
    options = { { "--older-than", "Drop the salvages older than this (30d, 12h, 90m).", argname = "<duration>" } },
    flags = { { "-n --dry-run", "Print what would be done; change nothing." }, { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local salvage = lifecycle()
      if not cmd.args.older_than then
        errors.raise("usage", "gt salvage prune needs --older-than DURATION (30d, 12h, 90m)")
      end
      local ms = salvage.duration(cmd.args.older_than, "--older-than")
      local list = salvage.plan_prune(cmd.rig, ms, sys.now_ms())
      if not cmd.args.dry_run then salvage.prune(cmd.rig, list) end
      if cmd.args.json then
        listing(list, true, "", { dry_run = cmd.args.dry_run or false })
      elseif #list == 0 then
        output.say("no salvages older than %s", cmd.args.older_than)
      else
        output.say("%s %s:", cmd.args.dry_run and "would drop" or "dropped",
          #list == 1 and "1 salvage" or (#list .. " salvages"))
        for _, e in ipairs(list) do output.say("  %s", salvage.drop_step(e)) end
      end
      return 0
    end,
  },
}
