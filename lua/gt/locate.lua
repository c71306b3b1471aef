--- gt.locate: where a command's things are, found with nothing but stat: the user's folders,
--- the town and the rig. gt.startup uses it before any user code runs, to find init files and
--- module overrides, so it loads no gt module but gt.fs and gt.layout (and cannot itself be
--- overridden).
local fs = require("gt.fs")
local layout = require("gt.layout")

local locate = {}

local function env(name)
  local v = os.getenv(name)
  if v and v ~= "" then return v end
  return nil
end

--- $XDG_CONFIG_HOME, else ~/.config.
function locate.config_home()
  return env("XDG_CONFIG_HOME") or (os.getenv("HOME") or "") .. "/.config"
end

--- $XDG_STATE_HOME, else ~/.local/state.
function locate.state_home()
  return env("XDG_STATE_HOME") or (os.getenv("HOME") or "") .. "/.local/state"
end

--- True if `dir` is a town (it holds .gt/town.lua).
function locate.is_town(dir)
  local st = fs.stat(layout.town_config(dir))
  return st ~= nil and st.type == "file"
end

--- Returns the outermost folder holding `start` that is a town, or nil. Outermost, so that a
--- project checked out inside a town cannot pass itself off as one.
function locate.discover_town(start)
  local found
  local dir = start
  while dir and dir ~= "" do
    if locate.is_town(dir) then found = dir end
    if dir == "/" then break end
    dir = dir:match("^(.*)/[^/]*$")
    if dir == "" then dir = "/" end
  end
  return found
end

--- Returns the town folder of a command, or nil: `explicit` (--town), else $GT_TOWN, else the
--- outermost town holding the current directory. The explicit ones are returned as given,
--- even when they are not towns (the caller reports that).
function locate.town(explicit)
  if explicit and explicit ~= "" then return explicit end
  local from_env = env("GT_TOWN")
  if from_env then return from_env end
  local cwd = fs.cwd()
  cwd = cwd and (fs.realpath(cwd) or cwd)
  return cwd and locate.discover_town(cwd)
end

--- Returns the name of the rig of `town_root` whose folder holds `path` (also from deep inside
--- a polecat's worktree), or nil. Only the first component below the town counts, so files
--- inside a managed project cannot redirect it.
function locate.rig_of_path(town_root, path)
  local rel
  if path:sub(1, #town_root + 1) == town_root .. "/" then rel = path:sub(#town_root + 2) end
  if not rel or rel == "" then return nil end
  local first = rel:match("^[^/]+")
  local st = fs.stat(layout.rig_config(layout.rig_root(town_root, first)))
  if st and st.type == "file" then return first end
  return nil
end

--- Returns the rig name of a command in town `town_root`, or nil: `explicit` (--rig), else
--- $GT_RIG, else the rig holding the current directory.
function locate.rig(town_root, explicit)
  if explicit and explicit ~= "" then return explicit end
  local from_env = env("GT_RIG")
  if from_env then return from_env end
  local cwd = fs.cwd()
  cwd = cwd and (fs.realpath(cwd) or cwd)
  return cwd and locate.rig_of_path(town_root, cwd)
end

return locate
