--- gt.repl_helpers: the administration helpers of gt repl (.help lists them). Each prints a
--- table for people and returns its data, so that it can be inspected further.
local output = require("gt.output")
local errors = require("gt.errors")
local json = require("gt.json")
local proc = require("gt.proc")
local store = require("gt.store")
local safety = require("gt.safety")
local commands = require("gt.commands")
local polecat = require("gt.polecat")

local helpers = {}

local function need_rig(rig)
  if not rig then errors.raise("usage", "no rig bound: start gt repl with --rig NAME") end
  return rig
end

--- Marks a helper's result, already shown as a table, to print as one line in the REPL
--- ("(2 polecats)") while staying a plain list to index.
local function shown(list, what)
  return setmetatable(list, { __tostring = function(t)
    return ("(%d %s)"):format(#t, what)
  end })
end


--- The helpers for a session on `town` and `rig`: name -> { fn, usage, summary }.
function helpers.make(town, rig)
  local h = {}

  h.polecats = {
    usage = "polecats()",
    summary = "the rig's polecats with their safety state (what removing each would lose)",
    fn = function()
      local r = need_rig(rig)
      local rows = {}
      for _, agent in ipairs(store.agents(town:ledger(), r.name, false)) do
        local report = safety.classify(r, agent)
        local lost = safety.describe(report)
        for i, l in ipairs(lost) do lost[i] = l:match("^[^:]+") end
        rows[#rows + 1] = { name = agent.name,
          state = report.worktree_missing and agent.state .. " (missing)" or agent.state,
          branch = agent.branch, issue = agent.issue or "", safe = report.safe,
          safety = report.safe and "safe" or table.concat(lost, ", "), report = report }
      end
      output.listing(rows, { none = "(none)", columns = { { "name", "NAME" }, { "state", "STATE" },
        { "safety", "SAFETY" }, { "branch", "BRANCH" } } })
      return shown(rows, "polecats")
    end,
  }

  h.events = {
    usage = "events(name [, n])",
    summary = "the last n (10) events of a polecat, from the ledger",
    fn = function(name, n)
      local r = need_rig(rig)
      local list = polecat.history(r, name, n or 10)
      output.listing(list, { none = "(none)", columns = output.EVENT_COLUMNS, cells = output.event_cells })
      return shown(list, "events")
    end,
  }

  h.status = {
    usage = "status(name)",
    summary = "the safety report of one polecat (gt.safety.classify)",
    fn = function(name)
      local r = need_rig(rig)
      return safety.classify(r, polecat.get(r, name))
    end,
  }

  h.run = {
    usage = 'run("polecat list")',
    summary = "runs a gt command on this town and rig; returns {code, ok, stdout, stderr, json}",
    fn = function(cmdline)
      if type(cmdline) ~= "string" then errors.raise("usage", 'run needs a command line, like run("polecat list")') end
      local argv = { gt.executable }
      if town then argv[#argv + 1] = "--town"; argv[#argv + 1] = town.root end
      if rig then argv[#argv + 1] = "--rig"; argv[#argv + 1] = rig.name end
      local words = {}
      for w in cmdline:gmatch("%S+") do words[#words + 1] = w end
      -- Ask for JSON when the command has --json, so the result is data.
      local json_flag = false
      for n = #words, 1, -1 do
        local spec = commands.get(table.concat(words, " ", 1, n))
        if spec then
          for _, f in ipairs(spec.flags or {}) do
            if f[1]:match("%-%-json") then json_flag = true end
          end
          break
        end
      end
      for _, w in ipairs(words) do argv[#argv + 1] = w end
      local has = cmdline:find("--json", 1, true)
      if json_flag and not has then argv[#argv + 1] = "--json" end
      local result = errors.check_doing("run", proc.run({ argv = argv }))
      local out = { code = result.code, ok = result.ok, stdout = result.stdout, stderr = result.stderr }
      if json_flag and result.ok then out.json = json.decode(result.stdout) end
      return out
    end,
  }

  return h
end

--- The text .help prints.
function helpers.help(town, rig)
  local lines = {
    "objects:",
    ("  town     %s"):format(town and tostring(town) or "nil (no town: use --town DIR)"),
    ("  rig      %s"):format(rig and tostring(rig) or "nil (no rig: use --rig NAME)"),
    "  gt       gt's API: gt.polecat, gt.safety, gt.store, gt.git, gt.ledger, ... (Tab completes)",
    "  rig:repo(), rig:lock(name), rig:fetch(), town:rigs(), town:ledger()",
    "helpers:",
  }
  local h = helpers.make(town, rig)
  local names = {}
  for name in pairs(h) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    lines[#lines + 1] = ("  %-22s %s"):format(h[name].usage, h[name].summary)
  end
  lines[#lines + 1] = "commands: .help, .exit (or Ctrl-D); Ctrl-C cancels the line being typed"
  return table.concat(lines, "\n")
end

return helpers
