--- gt.startup: the user's code, set up before a command runs (docs/hooks.md).
--
-- Module overrides: a module is looked for in <rig>/.gt/lua, <town>/.gt/lua and
-- $XDG_CONFIG_HOME/gt/lua before the built-ins, so a user's gt/commands/polecat.lua replaces
-- the built-in one (gt --verbose says which file replaced what); a broken one (an error, or a
-- gt module that returns no table) is reported, and the next one (or the built-in) is used.
-- gt.main, gt.locate, gt.startup, gt.trust and gt.usercode are loaded before that and cannot be
-- replaced.
--
-- Init files, in this order: $XDG_CONFIG_HOME/gt/init.lua, <town>/.gt/init.lua,
-- <rig>/.gt/init.lua, each read and run by gt.usercode. A broken one never locks the user out:
-- its error is printed in one line with its path and line, what it registered is dropped, read-only
-- commands go on, and gt doctor lists it; but commands that run hooks refuse (a guard hook in it
-- would silently not run), until it is fixed or gt --clean is given.
--
-- The code of a town or rig runs only if its folder is the user's own (gt init and gt rig add
-- record it, gt trust DIR too; gt.trust) or the file itself is trusted: a repository that
-- commits .gt/town.lua and .gt/init.lua does not run its code in every clone of it. gt --clean
-- runs with no user code at all.
local fs = require("gt.fs")
local locate = require("gt.locate")
local errors = require("gt.errors")
local trust = require("gt.trust")
local usercode = require("gt.usercode")

local startup = {}

--- Problems met while loading user code: { kind = "init"|"override"|"untrusted", path, message }
--- (gt doctor shows them).
startup.problems = {}

--- Modules that user folders provide: { module = path } (gt doctor, gt --verbose).
startup.overrides = {}

--- Init files that were loaded: { path, ok }.
startup.init_files = {}

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
    folders.town = real .. "/.gt"
    owned.town = trust.owns(real)
    local rig = locate.rig(real, flags.rig)
    if rig and rig:match("^[%w][%w._-]*$") and fs.stat(real .. "/" .. rig .. "/.gt/rig.lua") then
      folders.rig = real .. "/" .. rig .. "/.gt"
      owned.rig = trust.owns(real .. "/" .. rig)
    end
  end
  return folders, owned
end

local function warn(message)
  io.stderr:write("gt: ", message, "\n")
end

--- Records a module override that failed to load or to run, and says so: gt goes on with the
--- module of the next folder, or the built-in one (a broken override locks no one out either).
local function override_failed(path, err)
  local message = usercode.one_line(err, path)
  startup.problems[#startup.problems + 1] = { kind = "override", path = path, message = message }
  warn("module override failed, going on without it: " .. message)
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

--- Whether the user file `path` of a folder that is not the user's own is trusted by hash;
--- reports it once when it is not. Returns its content when it may run.
local reported = {}
local function trusted_content(path, kind)
  local status, real, _, data = trust.check(path)
  if status == "trusted" then return data end
  if not reported[path] then
    reported[path] = true
    local message
    if status then
      local folder = path:gsub("/%.gt/.*$", "")
      message = ("%s was not run: %s is not a town or rig you made here (gt init, gt rig add); " ..
        "if it is yours: gt trust %s"):format(path, folder, folder)
    else
      message = ("%s was not run: %s"):format(path, real)
    end
    startup.problems[#startup.problems + 1] = { kind = "untrusted", path = path, message = message }
    if kind == "init" then require("gt.hooks").load_failed(path, message) end
    warn(message)
  end
  return nil
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
        local data, err
        if d.owned then data, err = usercode.read(path) else data = trusted_content(path, "override") end
        local chunk
        if data then chunk, err = load(data, "@" .. path, "t") end
        if chunk then
          startup.overrides[name] = path
          -- Not through gt.output: that module may be the one being loaded.
          if startup.verbose then io.stderr:write("gt: module ", name, " comes from ", path, "\n") end
          return function(...)
            local ok, mod = pcall(chunk, ...)
            if ok and name:match("^gt%.") and type(mod) ~= "table" then
              ok, mod = false, ("module %s returned %s, not a table"):format(name, tostring(mod))
            end
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

--- Loads the init file at `path` if it exists; `owned`: its folder is the user's own (else it
--- runs only if trusted). On an error, prints it in one line with the path and line, drops
--- what the file registered, records the problem, and returns false.
function startup.load_init(path, owned)
  if not fs.lstat(path) then return nil end
  local data, err
  if owned then data, err = usercode.read(path) else data = trusted_content(path, "init") end
  if not data and not err then return false end -- not trusted: reported
  local ok
  if data then
    ok, err = usercode.run(path, data)
  else
    ok, err = false, usercode.one_line(err, path)
  end
  startup.init_files[#startup.init_files + 1] = { path = path, ok = ok }
  if ok then return true end
  startup.problems[#startup.problems + 1] = { kind = "init", path = path, message = err }
  require("gt.hooks").load_failed(path, err)
  warn("init file failed, going on without it: " .. err)
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
  local folders, owned = startup.folders(flags)
  owned.user = true
  startup.folders_used = folders
  local dirs = {}
  for _, key in ipairs({ "rig", "town", "user" }) do
    if folders[key] then dirs[#dirs + 1] = { dir = folders[key] .. "/lua", owned = owned[key] } end
  end
  startup.install_searcher(dirs)
  require("gt.output").is_verbose = flags.verbose == true
  for _, key in ipairs({ "user", "town", "rig" }) do
    if folders[key] then startup.load_init(folders[key] .. "/init.lua", owned[key]) end
  end
end

return startup
