--- gt.startup: the user's code, set up before a command runs (docs/hooks.md).
--
-- Module overrides: a module is looked for in <rig>/.gt/lua, <town>/.gt/lua and
-- $XDG_CONFIG_HOME/gt/lua before the built-ins, so a user's gt/commands/polecat.lua replaces
-- the built-in one (gt --verbose says which file replaced what); a broken one (an error, or a
-- gt module that returns no table) is reported, and the next one (or the built-in) is used.
-- gt.main, gt.startup and what they load first (gt.locate, gt.layout, gt.trust, gt.usercode,
-- gt.hooks, gt.commands, gt.output, gt.errors) are loaded before that and cannot be replaced.
--
-- Init files, in this order: $XDG_CONFIG_HOME/gt/init.lua, <town>/.gt/init.lua,
-- <rig>/.gt/init.lua, each loaded by gt.usercode. A broken one never locks the user out:
-- its error is printed in one line with its path and line, what it registered is dropped, read-only
-- commands go on, and gt doctor lists it; but commands that run hooks refuse (a guard hook in it
-- would silently not run), until it is fixed or gt --clean is given.
--
-- The code of a town or rig runs only if its folder is the user's own (gt init and gt rig add
-- record it, gt trust DIR too; gt.trust) or the file itself is trusted: a repository that
-- commits .gt/town.lua and .gt/init.lua does not run its code in every clone of it. gt --clean
-- runs with no user code at all.
local fs = require("gt.fs")
local errors = require("gt.errors")
local output = require("gt.output")
local layout = require("gt.layout")
local locate = require("gt.locate")
local trust = require("gt.trust")
local usercode = require("gt.usercode")
local commands = require("gt.commands")

local startup = {}

--- Modules that user folders provide: { module = path } (gt --verbose says so).
startup.overrides = {}

--- Reads the global options that decide what user code loads, before the real parse:
--- --clean, --verbose/-v, --town DIR, --rig NAME (also --town=DIR), until the first "--".
--- An empty --town or --rig is a usage error (it would otherwise mean "the default").
function startup.prescan(argv)
  local flags = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then break end
    local key, value
    if a == "--clean" then flags.clean = true
    elseif a == "--verbose" or a == "-v" then flags.verbose = true
    elseif a == "--town" or a == "--rig" then
      key, value = a:sub(3), argv[i + 1]
      i = i + 1
    else
      key, value = a:match("^%-%-(town)=(.*)$")
      if not key then key, value = a:match("^%-%-(rig)=(.*)$") end
    end
    if key then
      if value == "" then
        errors.raise("usage", "--%s needs a %s, not an empty string", key, key == "town" and "folder" or "name")
      end
      flags[key] = value
    end
    i = i + 1
  end
  return flags
end

--- The folders of user code for this command: { rig, town, user } (absent ones are nil), and
--- for the rig and town whether the user owns them ({ rig = true, town = false }).
function startup.folders(flags)
  local folders = { user = locate.config_home() .. "/gt" }
  local owned = {}
  local town = locate.town(flags.town)
  local real = town and fs.realpath(town)
  if real and locate.is_town(real) then
    folders.town = layout.dotgt(real)
    owned.town = trust.owns(real)
    local rig = locate.rig(real, flags.rig)
    local root = rig and rig:match("^[%w][%w._-]*$") and layout.rig_root(real, rig)
    if root and fs.stat(layout.rig_config(root)) then
      folders.rig = layout.dotgt(root)
      owned.rig = trust.owns(root)
    end
  end
  return folders, owned
end

--- Records a module override that failed to load or to run, and says so: gt goes on with the
--- module of the next folder, or the built-in one (a broken override locks no one out either).
local function override_failed(path, err)
  local message = usercode.one_line(err, path)
  usercode.problem("override", path, message)
  io.stderr:write("gt: module override failed, going on without it: ", message, "\n")
end

--- Loads module `name` through package.searchers, as require does (the failed override is
--- skipped by then).
local function load_next(name)
  for _, search in ipairs(package.searchers) do
    local loader, extra = search(name)
    if type(loader) == "function" then return loader(name, extra) end
  end
  error(("module '%s' not found"):format(name), 0)
end

--- Puts a searcher for `dirs` (module roots, first match wins) before gt's built-ins. dirs are
--- { dir, owned } pairs: a module of a folder the user does not own loads only if trusted.
function startup.install_searcher(dirs)
  local failed = {}
  local function searcher(name)
    local rel = name:gsub("%.", "/") .. ".lua"
    local tried = {}
    for _, d in ipairs(dirs) do
      local path = d.dir .. "/" .. rel
      if fs.lstat(path) and not failed[path] then
        local data, err = usercode.content(path, d.owned)
        -- Compiled here too, so that a syntax error passes the search on to the next folder.
        if data then _, err = load(data, "@" .. path, "t") end
        if data and not err then
          startup.overrides[name] = path
          -- Not through gt.output: that module may be the one being loaded.
          if startup.verbose then io.stderr:write("gt: module ", name, " comes from ", path, "\n") end
          return function(...)
            local ok, mod = usercode.run(path, data, { args = table.pack(...), check = function(value)
              if name:match("^gt%.") and type(value) ~= "table" then
                return ("module %s returned %s, not a table"):format(name, tostring(value))
              end
            end })
            if ok then return mod end
            failed[path], startup.overrides[name] = true, nil
            override_failed(path, mod)
            return load_next(name)
          end, path
        end
        failed[path] = true
        if err then override_failed(path, err) end
      end
      tried[#tried + 1] = "no file '" .. path .. "'"
    end
    return "\n\t" .. table.concat(tried, "\n\t")
  end
  table.insert(package.searchers, 2, searcher)
  return searcher
end

--- Sets up the user's code for a command with the prescanned `flags` (nothing with --clean).
function startup.run(flags)
  startup.verbose = flags.verbose
  output.is_verbose = flags.verbose == true
  usercode.enabled = not flags.clean
  if flags.clean then return end
  usercode.track(commands)
  local folders, owned = startup.folders(flags)
  owned.user = true
  local dirs = {}
  for _, key in ipairs({ "rig", "town", "user" }) do
    if folders[key] then dirs[#dirs + 1] = { dir = layout.module_root(folders[key]), owned = owned[key] } end
  end
  startup.install_searcher(dirs)
  for _, key in ipairs({ "user", "town", "rig" }) do
    if folders[key] then usercode.load_init(layout.init_file(folders[key]), owned[key]) end
  end
end

return startup
