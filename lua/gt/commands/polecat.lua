--- Built-in commands: gt polecat add|list|status|remove|nuke|history|stats|empty-trash. They parse, call gt.polecat,
--- and print.
local output = require("gt.output")
local sys = require("gt.sys")
local json = require("gt.json")
local errors = require("gt.errors")
local shell = require("gt.shell")

-- gt.commands loads every command module on each run, to build one command table: the
-- lifecycle modules are required in the run functions, so that `gt rig list` or `gt --version`
-- never compiles them.
local function lifecycle()
  return require("gt.polecat"), require("gt.safety"), require("gt.salvage")
end

-- JSON null: a field without a value (a polecat without an issue) is still in the object, so
-- that every object of a listing has the same keys.
local null = require("dkjson").null

--- A session's info (gt.session.info) as JSON: every key, null where it has no value.
local function session_json(info)
  return { state = info.state, pid = info.pid or null, exit_status = info.exit_status or null,
    started_at = info.started_at or null, ended_at = info.ended_at or null }
end

--- The worktree of polecat cmd.args.name of the rig (gt polecat path and cd). Raises notfound
--- when the rig has no such live polecat, or its worktree is gone.
local function worktree_of(cmd)
  local agent = lifecycle().get(cmd.rig, cmd.args.name)
  if not agent.worktree or not require("gt.fs").lstat(agent.worktree) then
    errors.raise("notfound", "polecat %s has no worktree%s (gt doctor says more)", agent.name,
      agent.worktree and (": " .. agent.worktree .. " is gone") or "")
  end
  return agent.worktree
end

--- Has the shell change to `path` once gt exits (the gt function of gt shell-init), or, without
--- that function, prints the path when `print_path`, and how to get it (one line on stderr).
local function cd_to(path, print_path)
  if shell.change_dir(path) then return end
  if print_path then output.say("%s", path) end
  output.note("gt: %s", shell.hint())
end

--- The spec of a removal command: gt polecat remove, and gt polecat nuke (Gas Town's name for
--- it, with the same gate, salvage and plan). `verb` = { would = "nuke", did = "nuked" }.
local function removal(word, verb, summary, description)
  local command = "polecat " .. word
  return {
    name = command,
    summary = summary,
    description = description,
    arguments = { { "names", "Polecats to " .. word .. ".", args = "*" } },
    options = { { "--state", "Select the live polecats in this state.", argname = "<state>" } },
    flags = { { "-f --force", "Save unsaved work under refs/gt/salvage/, then remove." },
      { "--discard", "With --force: drop unsaved work instead of saving it." },
      { "-n --dry-run", "Print what would be done; change nothing." },
      { "--wait", "Delete the folder before returning, instead of in the background." },
      { "--all", "Select every live polecat of the rig." },
      { "--idle", "Select the idle polecats." },
      { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local polecat, _, salvage = lifecycle()
      local names = require("gt.sweep").targets(cmd.rig, cmd.args.names, { all = cmd.args.all,
        idle = cmd.args.idle, state = cmd.args.state })
      if #names == 0 and not cmd.args.json then
        output.say("no polecats to %s", word)
        return 0
      end
      local results = polecat.remove(cmd.rig, names, { force = cmd.args.force,
        discard = cmd.args.discard, dry_run = cmd.args.dry_run, background = not cmd.args.wait })
      if cmd.args.json then
        local out = {}
        for i, r in ipairs(results) do
          -- background: its folder, moved to `trash`, is being deleted by a detached gt.
          out[i] = { name = r.name, safe = r.safe, dry_run = r.dry_run or false,
            salvage = r.salvage and { ref = r.salvage.ref, commit = r.salvage.commit } or nil,
            discarded = r.discarded or false, steps = r.steps and json.array(r.steps) or nil,
            background = r.trash ~= nil, trash = r.trash }
        end
        output.json(json.array(out))
      else
        for _, r in ipairs(results) do
          if r.dry_run then
            output.say("would %s polecat %s:", verb.would, r.name)
            for _, st in ipairs(r.steps) do output.say("  %s", st) end
          else
            output.say("%s polecat %s", verb.did, r.name)
            if r.salvage then
              output.say("  unsaved work saved to %s (commit %s)", r.salvage.ref, r.salvage.commit:sub(1, 12))
              output.say("  get it back with: %s", salvage.restore_hint(cmd.rig, r.salvage.ref))
            elseif r.discarded then
              output.say("  unsaved work discarded (--discard)")
            end
          end
        end
      end
      if results.hook_errors then
        for _, e in ipairs(results.hook_errors) do io.stderr:write("gt: ", command, ": ", e, "\n") end
        return 1
      end
      return 0
    end,
  }
end

return {
  {
    name = "polecat add",
    summary = "Spawn a polecat: a branch from origin's default branch and a worktree of its own.",
    description = "Create branch polecat/NAME-<base36 ms> (polecat/NAME/ID@<base36 ms> with " ..
      "--issue) from origin/<default branch>, after a fetch, with a worktree at " ..
      "<rig>/polecats/NAME/<rig>, and record the polecat in the ledger. Any failure undoes it all. " ..
      "Without NAME, the next free name of the rig's pool (names in .gt/rig.lua: a theme or a list).",
    arguments = { { "name", "Name of the polecat (default: the next free name of the rig's pool).", args = "?" } },
    options = { { "--issue", "Issue the polecat works on.", argname = "<id>" },
      { "--run", "Then start CMD detached in its worktree, as sh -c CMD (gt polecat run --detach).",
        argname = "<cmd>" } },
    flags = { { "--no-fetch", "Do not fetch origin first." },
      { "--fresh", "Make a new worktree; never reuse an idle polecat's (rig option reuse)." },
      { "--cd", "Then change the shell's directory to its worktree (needs gt shell-init)." },
      { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local polecat = lifecycle()
      -- Without --no-fetch, fetch stays nil: the rig's fetch_on_spawn option decides.
      local fetch
      if cmd.args.no_fetch then fetch = false end
      local p = polecat.add(cmd.rig, cmd.args.name, { issue = cmd.args.issue,
        fetch = fetch, fresh = cmd.args.fresh })
      -- --run: the polecat stays when its command cannot start (it was made); the error is said.
      local started, start_err
      if cmd.args.run then
        local ok, res = xpcall(require("gt.session").start, errors.handler, cmd.rig, p.name,
          { "sh", "-c", cmd.args.run })
        if ok then started = res else start_err = res end
      end
      if cmd.args.json then
        output.json({ name = p.name, rig = p.rig, branch = p.branch, path = p.path,
          issue = p.issue or null, start = p.start, reused = p.reused or null,
          session = cmd.args.run and (started and { pid = started.pid, log = started.log } or null) or nil })
      else
        output.say("polecat %s spawned in rig %s", p.name, p.rig)
        output.say("  branch  %s", p.branch)
        output.say("  path    %s", p.path)
        if p.reused then output.say("  reused  the worktree of idle polecat %s", p.reused) end
        if started then output.say("  session pid %d, output to %s", started.pid, started.log) end
      end
      if cmd.args.cd then cd_to(p.path, false) end
      if start_err then
        io.stderr:write("gt: polecat add: ", p.name, " was made, but its command did not start: ",
          tostring(start_err), "\n")
        return 1
      end
      return 0
    end,
  },
  {
    name = "polecat list",
    summary = "List the polecats of the rig (every rig with --all).",
    description = "On a ledger that several hosts share, the polecats of every host are listed, " ..
      "with a HOST column; --host H lists those of host H only.",
    options = { { "--host", "List the polecats of this host only.", argname = "<host>" } },
    flags = { { "--json", "Print JSON." }, { "--all", "List the polecats of every rig." } },
    needs = "town",
    run = function(cmd)
      local polecat = lifecycle()
      local rig = not cmd.args.all and cmd.town:find_rig(cmd.args.rig) or nil
      local rows = polecat.list(cmd.town, rig, cmd.args.host)
      if rig then rig:close() end
      if cmd.args.json then
        for _, r in ipairs(rows) do r.issue = r.issue or null; r.session = session_json(r.session) end
      end
      local now = sys.now_ms()
      local describe = require("gt.session").describe
      local columns = { { "name", "NAME" }, { "state", "STATE" }, { "age", "SINCE" },
        { "session", "SESSION" }, { "issue", "ISSUE" }, { "branch", "BRANCH" } }
      if cmd.args.all then table.insert(columns, 1, { "rig", "RIG" }) end
      local hosts = {}
      for _, r in ipairs(rows) do hosts[r.host] = true end
      -- The HOST column: only where several hosts share the ledger (after NAME).
      if next(hosts, next(hosts)) then table.insert(columns, cmd.args.all and 3 or 2, { "host", "HOST" }) end
      output.listing(rows, { json = cmd.args.json, none = "no polecats", columns = columns,
        cells = function(r)
          return { rig = r.rig, name = r.name, host = r.host,
            state = r.missing and r.state .. " (missing)" or r.state,
            branch = r.branch or "", issue = r.issue or "", age = output.age(now - r.updated_at),
            session = describe(r.session) }
        end })
      return 0
    end,
  },
  {
    name = "polecat status",
    summary = "Show a polecat and what removing it would lose.",
    arguments = { { "name", "Name of the polecat." } },
    flags = { { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local polecat, safety = lifecycle()
      local agent = polecat.get(cmd.rig, cmd.args.name)
      local report = safety.classify(cmd.rig, agent)
      local session = require("gt.session")
      local info = session.info(session.last(cmd.rig, agent.name), agent)
      local state = session.effective_state(agent.state, info)
      if cmd.args.json then
        output.json({ rig = agent.rig, name = agent.name, state = state, branch = agent.branch,
          issue = agent.issue or null, path = agent.worktree, created_at = agent.created_at,
          updated_at = agent.updated_at, safe = report.safe, staged = json.array(report.staged),
          unstaged = json.array(report.unstaged), untracked = json.array(report.untracked),
          conflicted = json.array(report.conflicted), stashes = json.array(report.stashes),
          unpushed = json.array(report.unpushed), unpushed_total = report.unpushed_total,
          absorbed = report.absorbed, worktree_missing = report.worktree_missing,
          savable = report.savable, unreadable = json.array(report.unreadable),
          nested = json.array(report.nested), submodules = json.array(report.submodules),
          strays = json.array(report.strays), ignored = { files = report.ignored.files,
            bytes = report.ignored.bytes, kept = json.array(report.ignored.kept) },
          session = session_json(info) })
        return 0
      end
      output.say("polecat %s/%s: %s", agent.rig, agent.name, state)
      output.say("  branch  %s", agent.branch or "-")
      output.say("  path    %s%s", agent.worktree or "-", report.worktree_missing and " (missing)" or "")
      if agent.issue then output.say("  issue   %s", agent.issue) end
      if info.command then
        output.say("  session %s: %s", session.describe(info), table.concat(info.command, " "))
      end
      if report.safe then
        output.say("  safe to remove: all its work exists elsewhere%s",
          report.absorbed and " (its commits are merged into origin)" or "")
      else
        output.say("  unsaved work:")
        for _, l in ipairs(safety.describe(report)) do output.say("    %s", l) end
        if not report.savable then
          output.say("  gt cannot save some of it: remove --force refuses until it is saved elsewhere")
        end
      end
      local ignored = safety.describe_ignored(report)
      if ignored then output.say("  %s", ignored) end
      return 0
    end,
  },
  removal("remove", { would = "remove", did = "removed" },
    "Remove polecats, refusing (exit 3) to lose work unless forced.",
    "Remove the worktree, git's record of it and the branch of each polecat. If " ..
      "any of them holds work that exists nowhere else (uncommitted or untracked files, " ..
      "stashes on its branch, commits on no remote), nothing is removed and the command exits " ..
      "3, listing that work. --force first saves it under refs/gt/salvage/<rig>/<name>/<stamp> " ..
      "(a commit of the whole working tree plus the branch tip) and says how to get it back; " ..
      "only --force --discard drops it. --all, --idle or --state S select the polecats instead of names. " ..
      "It returns once the folder and git's record are moved into <rig>/.gt/trash/, the branch " ..
      "deleted and the polecat marked removed; a detached gt then deletes the trash, proving first " ..
      "that nothing unsaved goes (gt polecat empty-trash). --wait deletes it before returning."),
  {
    name = "polecat history",
    summary = "Show the events of a polecat, oldest first.",
    arguments = { { "name", "Name of the polecat." } },
    options = { { "--last", "Only the last N events.", argname = "<n>" } },
    flags = { { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local polecat = lifecycle()
      local limit = cmd.args.last and math.tointeger(tonumber(cmd.args.last))
      if cmd.args.last and (not limit or limit < 1) then
        errors.raise("usage", "--last needs a positive number, got %s", errors.quote(cmd.args.last))
      end
      local events = polecat.history(cmd.rig, cmd.args.name, limit)
      if #events == 0 and not cmd.args.json then
        errors.raise("notfound", "no history for polecat %s in rig %s", cmd.args.name, cmd.rig.name)
      end
      output.listing(events, { json = cmd.args.json, columns = output.EVENT_COLUMNS,
        cells = output.event_cells })
      return 0
    end,
  },
  {
    name = "polecat stats",
    summary = "How long adds, reuses and removes took: count, median and worst, per rig.",
    description = "From the journal: every add, reuse and remove that finished, whoever ran it. " ..
      "With --all, every rig of the town.",
    flags = { { "--json", "Print JSON." }, { "--all", "Every rig of the town." } },
    needs = "town",
    run = function(cmd)
      local rig = not cmd.args.all and cmd.town:find_rig(cmd.args.rig) or nil
      local rows = require("gt.stats").collect(cmd.town, rig and rig.name)
      if rig then rig:close() end
      output.listing(rows, { json = cmd.args.json, none = "no finished adds, reuses or removes yet",
        columns = { { "rig", "RIG" }, { "kind", "COMMAND" }, { "count", "COUNT" }, { "median", "MEDIAN" },
          { "worst", "WORST" } },
        cells = function(r)
          return { rig = r.rig, kind = r.kind, count = tostring(r.count),
            median = ("%d ms"):format(r.median_ms), worst = ("%d ms"):format(r.worst_ms) }
        end })
      return 0
    end,
  },
  {
    name = "polecat empty-trash",
    summary = "Delete what removals moved into the rig's trash (what gt polecat remove leaves to a background gt).",
    description = "Each trash entry (<rig>/.gt/trash/<name>-<stamp>) is proven as a removal proves " ..
      "a folder: anything unsaved in it (written after its polecat was classified) is saved under " ..
      "refs/gt/salvage/ first, and only files exactly as proven are deleted. An entry another " ..
      "deleter is at work on is waited for (with --background: left to it). Without NAMES, every " ..
      "entry of the rig whose deletion is unfinished.",
    arguments = { { "names", "Trash entries (<name>-<stamp>).", args = "*" } },
    flags = { { "--background", "Start a detached gt that deletes them, and return." },
      { "--skip-busy", "Leave an entry another deleter is at work on (as the detached one does)." },
      { "-n --dry-run", "Print what would be done; change nothing." }, { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local trash = require("gt.trash")
      local items, by_name = {}, {}
      for _, item in ipairs(trash.pending(cmd.rig)) do by_name[item.name] = item end
      for _, n in ipairs(#cmd.args.names > 0 and cmd.args.names or {}) do
        if not by_name[n] then errors.raise("notfound", "no trash entry %s to delete in rig %s", n, cmd.rig.name) end
        items[#items + 1] = by_name[n]
      end
      if #cmd.args.names == 0 then
        for _, item in ipairs(trash.pending(cmd.rig)) do items[#items + 1] = item end
      end
      local rows, failed = {}, 0
      for i, item in ipairs(items) do
        local holder = trash.busy(item)
        rows[i] = { name = item.name, path = item.path, result = cmd.args.dry_run and
          (holder and ("busy: pid " .. holder.pid) or "delete") or nil }
      end
      if not cmd.args.dry_run and #items > 0 then
        if cmd.args.background then
          local names = {}
          for i, item in ipairs(items) do names[i] = item.name end
          local pid = errors.check_doing("starting a deleter", trash.start(cmd.rig, names))
          for _, r in ipairs(rows) do r.result = "started (pid " .. pid .. ")" end
        else
          for i, item in ipairs(items) do
            local ok, result = pcall(trash.empty, cmd.rig, item, { wait = not cmd.args.skip_busy })
            if not ok then
              failed = failed + 1
              io.stderr:write("gt: ", errors.is(result) and result.message or tostring(result), "\n")
              result = "failed"
            end
            rows[i].result = result
          end
        end
      end
      output.listing(rows, { json = cmd.args.json, none = "the trash is empty",
        columns = { { "name", "ENTRY" }, { "result", cmd.args.dry_run and "PLAN" or "RESULT" } } })
      return failed > 0 and 1 or 0
    end,
  },
  removal("nuke", { would = "nuke", did = "nuked" },
    "Remove polecats (Gas Town's name for it), refusing (exit 3) to lose work unless forced.",
    "gt polecat remove by another name, with its gate: if any of the polecats holds " ..
      "work that exists nowhere else, nothing is removed and the command exits 3. --force saves " ..
      "that work under refs/gt/salvage/<rig>/<name>/<stamp> first; only --force --discard drops it. " ..
      "--all, --idle or --state S select the polecats instead of names."),
  {
    name = "polecat path",
    summary = "Print the path of a polecat's worktree.",
    description = "Print the path of polecat NAME's worktree, and nothing else (cd \"$(gt " ..
      "polecat path NAME)\"). An unknown polecat, or one whose worktree is gone, exits 4.",
    arguments = { { "name", "Name of the polecat." } },
    flags = { { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local path = worktree_of(cmd)
      if cmd.args.json then
        output.json({ name = cmd.args.name, rig = cmd.rig.name, path = path })
      else
        output.say("%s", path)
      end
      return 0
    end,
  },
  {
    name = "polecat cd",
    summary = "Change the shell's directory to a polecat's worktree (with gt shell-init).",
    description = "With the shell function of gt shell-init loaded, change the shell's " ..
      "directory to polecat NAME's worktree. Without it, print the path, and on stderr how to " ..
      "load it. An unknown polecat, or one whose worktree is gone, exits 4.",
    arguments = { { "name", "Name of the polecat." } },
    needs = "rig",
    run = function(cmd)
      cd_to(worktree_of(cmd), true)
      return 0
    end,
  },
}
