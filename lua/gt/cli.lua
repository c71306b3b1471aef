--- gt.cli: turns the command table into an argparse parser, parses argv and runs the command.
--
-- argparse and gt.town are required where they are used: `gt --version` needs neither, and it
-- is the start-up figure the benchmark compares with `git --version` (docs/design.md §7).
local git = require("gt.git")
local ledger = require("gt.ledger")
local errors = require("gt.errors")
local commands = require("gt.commands")
local progress = require("gt.progress")

local cli = {}

cli.description = "gt manages polecats: workers that each get a git worktree on a branch of " ..
  "their own inside a rig, are recorded in a ledger, and are dismissed without losing work."

local TARGETS = { "_cmd1", "_cmd2", "_cmd3" }

--- Builds the parser, with every command or, when `only` is given, with the commands whose
--- first word it is (what a run of one command needs: building all of them costs more than
--- parsing). Returns it and a map from command name to its argparse command.
function cli.build(only)
  commands.load_builtins()
  -- cli.run, not the parser, insists on a command, so that `gt --version` needs none.
  local parser = require("argparse")("gt", cli.description)
    :require_command(false)
    :command_target(TARGETS[1])
    :help_max_width(100)
  parser:option("--town", "Town folder (default: $GT_TOWN, else the town holding the current directory).")
    :argname("<dir>")
  parser:option("--rig", "Rig to work on (default: $GT_RIG, else the rig holding the current directory).")
    :argname("<name>")
  parser:flag("-v --verbose", "Say more about what happens (which user files replaced what).")
  parser:flag("-q --quiet", "Draw no progress lines (drawn only when stderr is a terminal).")
  parser:flag("--clean", "Run with no user code: no init files, module overrides or hooks.")
  parser:flag("--version", "Print gt's version and exit.")
  local nodes = { [""] = parser }
  local depth_of = { [""] = 0 }

  local function group(path)
    if nodes[path] then return nodes[path] end
    local parent_path, word = path:match("^(.*) ([^ ]+)$")
    if not parent_path then parent_path, word = "", path end
    local parent = group(parent_path)
    local depth = depth_of[parent_path] + 1
    local node = parent:command(word)
    node:command_target(TARGETS[depth + 1])
    local summary = commands.groups[path]
    if summary then node:summary(summary):description(summary) end
    nodes[path], depth_of[path] = node, depth
    return node
  end

  for _, spec in ipairs(commands.all()) do
    if only and spec.name:match("^[^ ]+") ~= only then goto next_spec end
    local node = group(spec.name)
    node:summary(spec.summary)
    node:description(spec.description or spec.summary)
    for _, a in ipairs(spec.arguments or {}) do
      local arg = node:argument(a[1], a[2])
      if a.args then arg:args(a.args) end
      if a.choices then arg:choices(a.choices) end
    end
    for _, o in ipairs(spec.options or {}) do
      local opt = node:option(o[1], o[2])
      if o.argname then opt:argname(o.argname) end
      if o.choices then opt:choices(o.choices) end
      if o.default then opt:default(o.default) end
    end
    for _, f in ipairs(spec.flags or {}) do node:flag(f[1], f[2]) end
    -- The words after the command are all arguments, options included: the command parses them
    -- (gt polecat run NAME CMD -x: -x is CMD's, not gt's). Its options are listed for help.
    if spec.raw then node:handle_options(false) end
    ::next_spec::
  end

  -- help and completion are commands of their own, generated from the same parser.
  local help = parser:command("help"):summary("Show help for a command.")
    :description("Show help for gt or for a command (gt help polecat add).")
  help:argument("command", "The command."):args("*")
  local completion = parser:command("completion")
    :summary("Print a shell completion script.")
    :description("Print a completion script for bash, zsh or fish, generated from gt's commands.")
  completion:argument("shell", "The shell."):choices({ "bash", "zsh", "fish" })
  nodes.help, nodes.completion = help, completion
  return parser, nodes
end

--- The command words the parser selected, joined by spaces ("polecat add").
local function selected(result)
  local words = {}
  for _, t in ipairs(TARGETS) do
    if result[t] then words[#words + 1] = result[t] end
  end
  return table.concat(words, " ")
end

--- Prints help for `words` (a list of command words).
local function show_help(parser, nodes, words)
  local name = table.concat(words, " ")
  local node = name == "" and parser or nodes[name]
  if not node then errors.raise("usage", "help: unknown command %s", errors.quote(name)) end
  io.stdout:write(node:get_help(), "\n")
  return 0
end

--- The first word of the command in `argv` when it names registered commands, else nil.
local function command_word(argv)
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--town" or a == "--rig" then
      i = i + 2
    elseif a:sub(1, 1) == "-" then
      i = i + 1
    else
      for _, spec in ipairs(commands.all()) do
        if spec.name:match("^[^ ]+") == a then return a end
      end
      return nil
    end
  end
  return nil
end

-- gt's own options that neither print help nor need a command's parser.
local PLAIN_OPTIONS = { ["--version"] = true, ["-v"] = true, ["--verbose"] = true,
  ["--clean"] = true, ["-q"] = true, ["--quiet"] = true }

--- gt's license (LICENSE), named by gt --version and the .deb's copyright file.
cli.LICENSE = "MIT License"

--- gt's version line: gt's version and the commit it was built from (gt.commit: "unknown"
--- when not built from a git checkout), Lua's, and those of the libgit2 and sqlite it was
--- built with.
function cli.version()
  return ("gt %s (commit %s; %s, libgit2 %s, sqlite %s; %s)"):format(gt.version, gt.commit,
    _VERSION, git.LIBGIT2_BUILT, ledger.sqlite_version(), cli.LICENSE)
end

--- True when `argv` is `--version` with only gt's plain options (no command, no help): then
--- no parser is needed, and building one is most of the run's time.
local function version_only(argv)
  local version = false
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if (a == "--town" or a == "--rig") and argv[i + 1] then
      i = i + 2
    elseif PLAIN_OPTIONS[a] or a:match("^%-%-town=") or a:match("^%-%-rig=") then
      version = version or a == "--version"
      i = i + 1
    else
      return false
    end
  end
  return version
end

--- Parses `argv` and runs the command. Returns the exit status; raises gt errors.
function cli.run(argv)
  if version_only(argv) then
    io.stdout:write(cli.version(), "\n")
    return 0
  end
  -- "" names no command: a parser of gt's own options, help and completion only.
  local parser, nodes = cli.build(command_word(argv))
  if #argv == 0 then
    io.stderr:write(parser:get_help(), "\n")
    return errors.exit.usage
  end
  local ok, result = parser:pparse(argv)
  if not ok then
    -- argparse's messages are one line; point at the help of the command being parsed.
    errors.raise("usage", "%s (see gt help)", result)
  end
  if result.version then
    io.stdout:write(cli.version(), "\n")
    return 0
  end
  progress.quiet = result.quiet == true
  local name = selected(result)
  if name == "help" then return show_help(parser, nodes, result.command) end
  if name == "completion" then
    io.stdout:write(parser["get_" .. result.shell .. "_complete"](parser))
    return 0
  end
  local spec = commands.get(name)
  if not spec then
    -- No command ("gt --town x"); a group without its subcommand is a parse error.
    io.stderr:write((nodes[name] or parser):get_help(), "\n")
    return errors.exit.usage
  end
  local cmd = { name = name, args = result, verbose = result.verbose }
  local needs = spec.needs
  if needs == "town" or needs == "rig" then
    cmd.town = require("gt.town").find(result.town)
    if needs == "rig" then cmd.rig = cmd.town:find_rig(result.rig) end
  end
  local run_ok, status = xpcall(spec.run, errors.handler, cmd)
  if cmd.rig then cmd.rig:close() end
  if cmd.town then cmd.town:close() end
  if not run_ok then
    progress.clear() -- the error's line is not written after a progress line
    errors.rethrow(status, name)
  end
  return status or 0
end

return cli
