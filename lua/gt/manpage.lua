--- gt.manpage: gt(1), the manual page, in roff (man(7) macros), made from the parser `gt help`
--- prints (gt.cli.build, from the command table), so that the two never disagree: the same
--- usage lines, options, arguments and descriptions. The build writes it with the just-built gt
--- and no user code (cmake/generate.lua), so only the built-in commands are in it; in a process
--- where user code registered commands, render() would list those too.
---
---   gt -l FILE:  io.write(require("gt.manpage").render())
local cli = require("gt.cli")
local errors = require("gt.errors")

local manpage = {}

--- Text for roff: backslashes escaped, hyphens as \- (so that options copy as ASCII minus
--- signs), and a line that would start with a control character (. or ') kept as text.
local function esc(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  s = s:gsub("\n([.'])", "\n\\&%1")
  if s:match("^[.']") then s = "\\&" .. s end
  return s
end

--- Paragraphs of `text` (split at blank lines), each escaped, separated by .PP.
local function paragraphs(text)
  local out = {}
  for para in (text .. "\n\n"):gmatch("(.-)\n%s*\n") do
    para = para:gsub("^%s+", ""):gsub("%s+$", "")
    if para ~= "" then out[#out + 1] = esc(para) end
  end
  return table.concat(out, "\n.PP\n")
end

--- An argparse usage ("Usage: gt polecat add [-h] ...", wrapped) on one line, without "Usage: ".
local function usage_of(node)
  return (node:get_usage():gsub("^Usage:%s*", ""):gsub("%s+", " "))
end

--- Tagged paragraphs for the arguments and options of argparse node `node`, as `gt help` lists
--- them (argparse's own labels and descriptions, defaults included); not -h/--help, which every
--- command has.
local function elements(node)
  local out = {}
  local function add(element)
    if element._hidden then return end
    -- argparse aligns the lines of a label ("  -t <x>,", "--timeout <x>"): one line here.
    local label = table.concat(element:_get_label_lines(), " "):gsub("^%s+", ""):gsub("%s+", " ")
    local description = element:_get_description()
    out[#out + 1] = ".TP\n\\fB" .. esc(label) .. "\\fR" .. (description ~= "" and "\n" .. esc(description) or "")
  end
  for _, a in ipairs(node._arguments) do add(a) end
  for i, o in ipairs(node._options) do
    if i ~= node._help_option_idx then add(o) end
  end
  return table.concat(out, "\n")
end

--- The commands below `node`, depth first in the order help lists them: one subsection each.
local function commands_section(node, out)
  for _, sub in ipairs(node._commands) do
    if not sub._hidden then
      if #sub._commands > 0 then
        commands_section(sub, out)
      else
        out[#out + 1] = ('.SS "%s"\n\\fB%s\\fR'):format(esc(sub:_get_fullname()), esc(usage_of(sub)))
        local text = paragraphs(sub._description or sub._summary or "")
        if text ~= "" then out[#out + 1] = ".PP\n" .. text end
        local list = elements(sub)
        if list ~= "" then out[#out + 1] = list end
      end
    end
  end
end

-- The environment variables gt reads (os.getenv in lua/gt, getenv in src/).
local ENVIRONMENT = {
  { "GT_TOWN", "The town, when --town is not given; else the outermost folder holding the " ..
    "current directory that has .gt/town.lua. gt init without DIR: $GT_TOWN, else ~/gt." },
  { "GT_RIG", "The rig, when --rig is not given; else the rig holding the current directory." },
  { "GT_JOBS", "Threads that write the files of a new worktree (default: the online CPUs)." },
  { "GT_LOCK_TIMEOUT_MS", "How long to wait for a busy lock, in milliseconds (instead of the " ..
    "rig's lock_timeout_ms, 10000)." },
  { "NO_COLOR", "When set and not empty, no colour, even on a terminal." },
  { "GT_CD_FILE", "Set by the shell function of gt shell-init: the file gt polecat cd and " ..
    "gt polecat add --cd write the folder to change to in." },
  { "HOME", "The default town (~/gt) and the defaults of the two below." },
  { "XDG_CONFIG_HOME", "The user's init file and module overrides are in $XDG_CONFIG_HOME/gt " ..
    "(default: ~/.config/gt)." },
  { "XDG_STATE_HOME", "The user's trusted files, owned folders and REPL history are in " ..
    "$XDG_STATE_HOME/gt (default: ~/.local/state/gt)." },
  { "GT_RUNTIME", "For gt's development: load the built-in Lua modules from this folder (a " ..
    "copy of lua/ of gt's source), in text mode, instead of the ones compiled in." },
  { "GT_FAULT, GT_FAULT_SIGNAL, GT_FAULT_PAUSE_MS", "For gt's tests: make a named step fail, " ..
    "kill gt or pause there (gt.fault)." },
}

-- The files gt reads and writes (docs/design.md, section 2.1).
local FILES = {
  { "~/gt", "The default town (gt init without DIR, when GT_TOWN is not set)." },
  { "<town>/.gt/town.lua", "The town's config: its presence makes a folder a town." },
  { "<town>/.gt/ledger.db", "The ledger (sqlite, WAL): rigs, polecats, events, operations." },
  { "<town>/.gt/init.lua, <town>/.gt/lua/", "The town's init file and module overrides." },
  { "<rig>/.repo.git/", "The rig's bare clone of origin; polecats' branches are polecat/*, " ..
    "saved work is under refs/gt/salvage/." },
  { "<rig>/.gt/rig.lua", "The rig's config (name, url, default_branch and options)." },
  { "<rig>/.gt/init.lua, <rig>/.gt/lua/", "The rig's init file and module overrides." },
  { "<rig>/.gt/logs/", "The output of detached sessions (<name>.log, <name>.exit)." },
  { "<rig>/.gt/trash/", "Removed polecats' folders, deleted in the background." },
  { "<rig>/polecats/<name>/<rig>/", "Polecat <name>'s worktree." },
  { "$XDG_CONFIG_HOME/gt/init.lua, $XDG_CONFIG_HOME/gt/lua/", "The user's init file and " ..
    "module overrides." },
  { "$XDG_STATE_HOME/gt/owned, $XDG_STATE_HOME/gt/trust", "Folders that are the user's own " ..
    "and trusted files (gt trust)." },
  { "$XDG_STATE_HOME/gt/history", "gt repl's history." },
}

-- What each exit status (gt.errors.exit) means; render() fails on a status not described here.
local EXIT = {
  failure = "Failure: anything else that failed, a bug (reported with a traceback), gt doctor " ..
    "with problems left.",
  usage = "Bad arguments, an invalid name, no rig given.",
  refused = "Refused to protect work: unsaved or unsavable work, a pre_remove hook's veto, an " ..
    "interrupted operation gt will not roll back.",
  notfound = "No such polecat, rig, town, branch or path.",
  busy = "A lock or the ledger stayed busy.",
  interrupted = "SIGINT or SIGTERM: what was under way was rolled back.",
}

local function tagged(list)
  local out = {}
  for _, item in ipairs(list) do
    out[#out + 1] = ".TP\n\\fB" .. esc(item[1]) .. "\\fR\n" .. esc(item[2])
  end
  return table.concat(out, "\n")
end

local function exit_section()
  local kinds = {}
  for kind in pairs(errors.exit) do
    if not EXIT[kind] then error("gt.manpage: no description of exit status " .. kind, 2) end
    kinds[#kinds + 1] = kind
  end
  table.sort(kinds, function(a, b) return errors.exit[a] < errors.exit[b] end)
  local list = { { "0", "Success." } }
  for _, kind in ipairs(kinds) do
    list[#list + 1] = { tostring(errors.exit[kind]), EXIT[kind] }
  end
  return tagged(list)
end

--- The manual page gt(1), roff source.
---@return string
function manpage.render()
  local parser = cli.build()
  local commands = {}
  commands_section(parser, commands)
  local out = {
    '.\\" gt(1): generated by gt.manpage from gt\'s command table; do not edit.',
    ('.TH GT 1 "" "gt %s" "User Commands"'):format(esc(gt.version)),
    ".SH NAME",
    "gt \\- manage polecats: git worktrees for ephemeral workers, dismissed without losing work",
    ".SH SYNOPSIS",
    "\\fB" .. esc(usage_of(parser)) .. "\\fR",
    ".br",
    "\\fBgt \\-l\\fR \\fIfile\\fR [\\fIargs\\fR ...]",
    ".SH DESCRIPTION",
    paragraphs(cli.description),
    ".PP",
    esc("A town is a folder holding rigs (gt init); a rig is a project, a bare clone of its " ..
      "origin (gt rig add); a polecat is a worktree of the rig on a branch of its own " ..
      "(gt polecat add). gt never loses work: a polecat whose worktree holds anything that " ..
      "exists nowhere else is not removed unless --force is given, and then that work is " ..
      "saved first (gt salvage)."),
    ".PP",
    esc("gt -l FILE runs a Lua file in gt's runtime, where gt.<module> is gt's API. Init files " ..
      "and module overrides (see FILES) extend and replace gt's Lua; --clean runs without them."),
    ".SH OPTIONS",
    elements(parser),
    ".SH COMMANDS",
    esc("Every command also takes -h, --help. gt help COMMAND prints the same as this section, " ..
      "for one command; gt completion bash|zsh|fish prints a completion script."),
    table.concat(commands, "\n"),
    ".SH ENVIRONMENT",
    tagged(ENVIRONMENT),
    ".PP",
    esc("A command gt polecat run starts gets GT_TOWN, GT_RIG, GT_POLECAT, GT_BRANCH and " ..
      "GT_ISSUE (when the polecat has one) in its environment."),
    ".SH FILES",
    tagged(FILES),
    ".SH EXIT STATUS",
    exit_section(),
    ".SH SEE ALSO",
    "\\fBgit\\fR(1), \\fBgit\\-worktree\\fR(1)",
    ".PP",
    esc("README.md, docs/design.md (the design), docs/hooks.md (hooks, init files, commands and " ..
      "trust) and examples/ of gt's source, installed in share/doc/gt/ (/usr/share/doc/gt from " ..
      "the Debian package)."),
  }
  return table.concat(out, "\n") .. "\n"
end

return manpage
