--- gt.layout: where gt keeps things, and what a polecat is called (docs/design.md §2). Every
--- path, lock name and ref name of a town is written out here and nowhere else:
---
---   <town>/.gt/town.lua            marks the town (its config)
---   <town>/.gt/ledger.db           the ledger
---   <town>/.gt/locks/rig-<rig>.lock  held by gt rig add <rig>
---   <town>/<rig>/.repo.git/        bare clone; origin's branches at refs/remotes/origin/*
---   <town>/<rig>/.gt/rig.lua       rig config
---   <town>/<rig>/.gt/locks/        polecat-<name>.lock, git.lock, fetch.lock
---   <town>/<rig>/.gt/logs/         <name>.log (a detached session's output), <name>.exit
---   <town>/<rig>/polecats/<name>/<rig>/   a polecat's worktree
---   <town>/<rig>/polecats/.trash-<name>-<stamp>/  a removal under way (gt.reap)
---   <town>/<rig>/.gt/trash/<name>-<stamp>/  home/ and record/ of a removed polecat, deleted in
---                                           the background (gt.trash); lock: its `lock` file
---   <town>/.gt/logs/trash.log      the background deleters' output (gt.trash)
---   <dir>/.gt/init.lua, <dir>/.gt/lua/   user code of a town or rig (gt.startup)
---   refs/gt/salvage/<rig>/<name>/<stamp>  work gt saved (gt.salvage)
---
--- A polecat is known by its id, "<rig>/<name>": the ledger's key for it (the ledger calls it
--- an agent) and the key of its journal operations.
---
--- Only string functions: gt.locate uses this module before any user code runs, so it loads no
--- other module and cannot be overridden.
local layout = {}

-- The town ---------------------------------------------------------------------------------

--- The folder of a town's or rig's own files (config, locks, user code): <dir>/.gt.
function layout.dotgt(dir) return dir .. "/.gt" end

--- The file that marks a town, and holds its config.
function layout.town_config(town_root) return town_root .. "/.gt/town.lua" end

--- The town's ledger.
function layout.ledger(town_root) return town_root .. "/.gt/ledger.db" end

--- The folder of the town's locks.
function layout.town_locks(town_root) return town_root .. "/.gt/locks" end

--- The lock gt rig add takes for rig `name` (and the recovery of an interrupted one).
function layout.rig_add_lock(town_root, name) return town_root .. "/.gt/locks/rig-" .. name .. ".lock" end

--- The folder of rig `name` of the town.
function layout.rig_root(town_root, name) return town_root .. "/" .. name end

--- Where gt rig remove moves a rig's folder (before it deletes it, or keeps it for the work it
--- holds).
function layout.removed_rig(town_root, name, stamp)
  return ("%s/.gt/removed/%s-%s"):format(town_root, name, stamp)
end

-- A rig ------------------------------------------------------------------------------------

--- The file that marks a rig, and holds its config.
function layout.rig_config(rig_root) return rig_root .. "/.gt/rig.lua" end

--- The rig's bare repository.
function layout.repo(rig_root) return rig_root .. "/.repo.git" end

--- The folder of the rig's locks.
function layout.locks(rig_root) return rig_root .. "/.gt/locks" end

--- The file of the rig's lock `lockname` ("git", "fetch", layout.polecat_lock(name)).
function layout.lock(rig_root, lockname) return rig_root .. "/.gt/locks/" .. lockname .. ".lock" end

--- The name of the lock every command on polecat `name` holds.
function layout.polecat_lock(name) return "polecat-" .. name end

--- The polecat whose lock is `lockname` (layout.polecat_lock), or nil.
function layout.polecat_of_lock(lockname) return lockname:match("^polecat%-(.+)$") end

--- The folder of the rig's session logs (gt.session): gt's files never sit beside a worktree.
function layout.logs(rig_root) return rig_root .. "/.gt/logs" end

--- The log of polecat `name`'s detached sessions (their stdout and stderr, appended).
function layout.log(rig_root, name) return rig_root .. "/.gt/logs/" .. name .. ".log" end

--- Where the supervisor of polecat `name`'s detached session writes "<pid> <exit status>".
function layout.session_exit(rig_root, name) return rig_root .. "/.gt/logs/" .. name .. ".exit" end

--- The folder that holds the rig's polecats.
function layout.polecats(rig_root) return rig_root .. "/polecats" end

--- The folder of polecat `name`: it holds the worktree (and nothing else, unless someone put
--- files beside it).
function layout.home(rig_root, name) return rig_root .. "/polecats/" .. name end

--- The worktree of polecat `name` of rig `rig_name`: <rig>/polecats/<name>/<rig>.
function layout.worktree(rig_root, rig_name, name)
  return rig_root .. "/polecats/" .. name .. "/" .. rig_name
end

--- git's record of worktree `name` (a polecat's) in a repository whose common folder is
--- `commondir` (with its trailing slash, as git.Repo:commondir() gives it).
function layout.worktree_admin(commondir, name) return commondir .. "worktrees/" .. name end

--- Where a removal moves polecat `name`'s folder before deleting it; `stamp` keeps two apart.
function layout.trash(rig_root, name, stamp)
  return ("%s/polecats/.trash-%s-%s"):format(rig_root, name, stamp)
end

--- True if `entry`, a name in the polecats folder, is a removal's trash folder.
function layout.is_trash(entry) return entry:match("^%.trash%-") ~= nil end

--- The folder of the rig's trash: what removals moved aside, deleted in the background.
function layout.trash_root(rig_root) return rig_root .. "/.gt/trash" end

--- The trash entry of a removal of polecat `name` (`stamp` keeps two apart): it holds `home`
--- (the polecat's folder), `record` (git's record of its worktree) and `lock`.
function layout.trash_entry(rig_root, name, stamp)
  return ("%s/.gt/trash/%s-%s"):format(rig_root, name, stamp)
end

--- The journal key of the background deletion of trash entry `entry` (its folder's name) of rig
--- `rig_name`: "<rig>/.trash/<entry>" (no polecat's id: names start with a letter or digit).
function layout.trash_key(rig_name, entry) return rig_name .. "/.trash/" .. entry end

--- The log the background deleters of the town's trash append to.
function layout.trash_log(town_root) return town_root .. "/.gt/logs/trash.log" end

--- The place trust of a file stands for: a polecat's worktree file <rig>/polecats/<name>/<rig>/<file>
--- stands for that file in every polecat of the rig (gt.trust).
function layout.trust_scope(path)
  local head, tail = path:match("^(.*/polecats/)[^/]+(/[^/]+/.+)$")
  if head then return head .. "*" .. tail end
  return path
end

--- The hook file a project may commit, relative to its worktree (run only if trusted).
layout.HOOKS_FILE = ".gt/hooks.lua"

--- The init file of a .gt folder (the user's, a town's or a rig's).
function layout.init_file(dotgt) return dotgt .. "/init.lua" end

--- The module root of a .gt folder: <dotgt>/lua/gt/commands/polecat.lua overrides a built-in.
function layout.module_root(dotgt) return dotgt .. "/lua" end

-- Names ------------------------------------------------------------------------------------

--- The id of polecat `name` of rig `rig_name`: "<rig>/<name>".
function layout.id(rig_name, name) return rig_name .. "/" .. name end

--- The rig and polecat names of an id, or nil when `id` is not one.
function layout.split_id(id)
  return id:match("^([^/]+)/(.+)$")
end

--- The folder of the salvages of rig `rig_name` (a ref prefix, without the trailing slash).
function layout.salvages(rig_name)
  return "refs/gt/salvage/" .. rig_name
end

--- The folder of the salvages of polecat `name` (a ref prefix, without the trailing slash).
function layout.salvage_prefix(rig_name, name)
  return ("refs/gt/salvage/%s/%s"):format(rig_name, name)
end

return layout
