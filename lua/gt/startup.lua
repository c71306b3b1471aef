--- gt.startup: the user's code, set up before a command runs (docs/hooks.md).
--
-- Module overrides: a module is looked for in <rig>/.gt/lua, <town>/.gt/lua and
-- $XDG_CONFIG_HOME/gt/lua before the built-ins, so a user's gt/commands/polecat.lua replaces
-- the built-in one (gt --verbose says which file replaced what); a broken one is reported, and
-- the next one (or the built-in) is used. gt.main, gt.locate and gt.startup are loaded before
-- that and cannot be replaced.
--
-- Init files, in this order: $XDG_CONFIG_HOME/gt/init.lua, <town>/.gt/init.lua,
-- <rig>/.gt/init.lua, each in text mode with an environment of its own (globals it sets stay
-- in it; everything else comes from _G). A broken one never locks the user out: its error is
-- printed with its path and line, what it registered is dropped, and gt goes on; gt doctor
-- lists it. gt --clean runs with no user code at all.
local fs = require("gt.fs")
local locate = require("gt.locate")

local startup = {}

--- Problems met while loading user code: { kind = "init"|"override", path, message } (gt doctor
--- shows them).
startup.problems = {}

--- Modules that user folders provide: { module = path } (gt doctor, gt --verbose).
startup.overrides = {}

--- Init files that were loaded: { path, ok }.
startup.init_files = {}

--- Reads the global options that decide what user code loads, before the real parse:
--- --clean, --verbose/-v, --town DIR, --rig NAME (also --town=DIR), until the first "--".
function startup.prescan(argv)
  local flags = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then break end
    if a == "--clean" then flags.clean = true
    elseif a == "--verbose" or a == "-v" then flags.verbose = true
    elseif a == "--town" or a == "--rig" then
      flags[a:sub(3)] = argv[i + 1]
      i = i + 1
    else
      local key, value = a:match("^%-%-(town)=(.*)$")
      if not key then key, value = a:match("^%-%-(rig)=(.*)$") end
      if key then flags[key] = value end
    end
    i = i + 1
  end
  return flags
end

--- The folders of user code for this command, most specific first: { rig, town, user }
--- (absent ones are nil).
function startup.folders(flags)
  local folders = { user = locate.config_home() .. "/gt" }
  local town = locate.town(flags.town)
  local real = town and fs.realpath(town)
  if real and locate.is_town(real) then
    folders.town = real .. "/.gt"
    local rig = locate.rig(real, flags.rig)
    if rig and rig:match("^[%w][%w._-]*$") and fs.stat(real .. "/" .. rig .. "/.gt/rig.lua") then
      folders.rig = real .. "/" .. rig .. "/.gt"
    end
  end
  return folders
end

--- Records a module override that failed to load or to run, and says so: gt goes on with the
--- module of the next folder, or the built-in one (a broken override locks no one out either).
local function override_failed(path, err)
  local message = require("gt.errors").full_path(tostring(err), path)
  if not message:find(path, 1, true) then message = path .. ": " .. message end
  startup.problems[#startup.problems + 1] = { kind = "override", path = path, message = message }
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

--- Puts a searcher for `dirs` (module roots, first match wins) before gt's built-ins.
function startup.install_searcher(dirs)
  local failed = {}
  local function searcher(name)
    local rel = name:gsub("%.", "/") .. ".lua"
    local tried = {}
    for _, dir in ipairs(dirs) do
      local path = dir .. "/" .. rel
      if fs.stat(path) and not failed[path] then
        local chunk, err = loadfile(path, "t")
        if chunk then
          startup.overrides[name] = path
          -- Not through gt.output: that module may be the one being loaded.
          if startup.verbose then io.stderr:write("gt: module ", name, " comes from ", path, "\n") end
          return function(...)
            local ok, mod = pcall(chunk, ...)
            if ok then return mod end
            failed[path], startup.overrides[name] = true, nil
            override_failed(path, mod)
            return load_next(name)
          end, path
        end
        failed[path] = true
        override_failed(path, err)
      end
      tried[#tried + 1] = "no file '" .. path .. "'"
    end
    return "\n\t" .. table.concat(tried, "\n\t")
  end
  table.insert(package.searchers, 2, searcher)
  return searcher
end

--- Loads the init file at `path` if it exists. On an error, prints it with the path and line,
--- drops what the file registered, records the problem, and returns false.
function startup.load_init(path)
  if not fs.stat(path) then return nil end
  local hooks = require("gt.hooks")
  local commands = require("gt.commands")
  local errors = require("gt.errors")
  local saved_hooks, saved_commands = hooks._snapshot(), commands._snapshot()
  local env = setmetatable({}, { __index = _G })
  local chunk, err = loadfile(path, "t", env)
  local ok = chunk ~= nil
  if ok then
    ok, err = xpcall(chunk, function(e)
      if errors.is(e) then return e.message end
      return tostring(e)
    end)
  end
  startup.init_files[#startup.init_files + 1] = { path = path, ok = ok }
  if ok then return true end
  hooks._restore(saved_hooks)
  commands._restore(saved_commands)
  local message = errors.full_path(tostring(err), path)
  if not message:find(path, 1, true) then message = path .. ": " .. message end
  startup.problems[#startup.problems + 1] = { kind = "init", path = path, message = message }
  io.stderr:write("gt: init file failed, going on without it: ", message, "\n")
  return false
end

--- Sets up the user's code for a command with the prescanned `flags` (nothing with --clean).
function startup.run(flags)
  startup.verbose = flags.verbose
  startup.clean = flags.clean == true
  if flags.clean then
    require("gt.output").is_verbose = flags.verbose == true
    return
  end
  local folders = startup.folders(flags)
  startup.folders_used = folders
  local dirs = {}
  for _, key in ipairs({ "rig", "town", "user" }) do
    if folders[key] then dirs[#dirs + 1] = folders[key] .. "/lua" end
  end
  startup.install_searcher(dirs)
  require("gt.output").is_verbose = flags.verbose == true
  for _, key in ipairs({ "user", "town", "rig" }) do
    if folders[key] then startup.load_init(folders[key] .. "/init.lua") end
  end
end

return startup
