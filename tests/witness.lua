-- What the polecat specs check after running gt, read from independent witnesses: the disk, the
-- git CLI and the ledger's tables (read with plain SQL, not through gt.store).
local fs = require("gt.fs")
local json = require("gt.json")
local ledger = require("gt.ledger")
local helpers = require("helpers")

local witness = {}

--- Rows of one query on the town's ledger.
function witness.query(fx, sql, ...)
  local db <close> = assert(ledger.open(fx.town .. "/.gt/ledger.db"))
  local rows = {}
  for row in db:rows(sql, ...) do rows[#rows + 1] = row end
  return rows
end

--- The ledger row of polecat `name` of rig `fx.name`, or nil.
function witness.agent(fx, name)
  return witness.query(fx, "SELECT * FROM agents WHERE id = ?", fx.name .. "/" .. name)[1]
end

--- The events of polecat `name`, oldest first, with their data decoded.
function witness.events(fx, name)
  local rows = witness.query(fx, "SELECT * FROM events WHERE agent = ? ORDER BY seq",
    fx.name .. "/" .. name)
  for _, e in ipairs(rows) do e.data = json.decode(e.data) end
  return rows
end

--- The kinds of the events of polecat `name`, oldest first.
function witness.event_kinds(fx, name)
  local kinds = {}
  for i, e in ipairs(witness.events(fx, name)) do kinds[i] = e.kind end
  return kinds
end

--- The journal's operations on polecat `name`, oldest first.
function witness.operations(fx, name)
  return witness.query(fx, "SELECT * FROM operations WHERE agent = ? ORDER BY id",
    fx.name .. "/" .. name)
end

--- Names of the branches of the rig's repository under refs/heads/<prefix> (git CLI).
function witness.branches(fx, prefix)
  local out = helpers.git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(refname:short)",
    "refs/heads/" .. (prefix or ""))
  return helpers.lines(out)
end

--- git's worktrees of the rig, from `git worktree list --porcelain`, without the bare repository
--- itself: { {path, head, branch, locked = reason | nil, prunable = reason | nil}... }.
function witness.worktrees(fx)
  local out = helpers.git(fx.rig .. "/.repo.git", "worktree", "list", "--porcelain")
  local list = {}
  for block in (out .. "\n\n"):gmatch("(.-)\n\n") do
    local wt = {}
    for line in block:gmatch("[^\n]+") do
      local key, value = line:match("^(%S+) ?(.*)$")
      wt[key] = value
    end
    if wt.worktree and not wt.bare then
      list[#list + 1] = { path = wt.worktree, head = wt.HEAD, branch = wt.branch,
        locked = wt.locked, prunable = wt.prunable }
    end
  end
  return list
end

--- Sorted names of the entries of `dir` ({} when it does not exist).
function witness.ls(dir)
  local names = fs.dir(dir) or {}
  table.sort(names)
  return names
end

--- The files under `dir`, without git's `.git`: a map from relative path to content.
function witness.files(dir)
  local files = {}
  local function walk(rel)
    for _, name in ipairs(witness.ls(dir .. "/" .. rel)) do
      local path = rel .. name
      if path ~= ".git" then
        if fs.lstat(dir .. "/" .. path).type == "directory" then
          walk(path .. "/")
        else
          files[path] = helpers.read(dir .. "/" .. path)
        end
      end
    end
  end
  walk("")
  return files
end

--- The files of commit `rev` of the repository at `gitdir`, read with the git CLI: a map from
--- path to content, as witness.files.
function witness.commit_files(gitdir, rev)
  local bare = gitdir
  local files = {}
  for _, path in ipairs(helpers.lines(helpers.git(bare, "ls-tree", "-r", "--name-only", rev))) do
    local r = helpers.run({ "git", "-C", bare, "cat-file", "blob", rev .. ":" .. path })
    assert(r.code == 0, r.stderr)
    files[path] = r.stdout
  end
  return files
end

--- Names of git's worktree records (`.repo.git/worktrees/*`).
function witness.records(fx)
  return witness.ls(fx.rig .. "/.repo.git/worktrees")
end

--- Every path under `dir` (sorted, relative), without git's object store.
local function tree(dir)
  local paths = {}
  local function walk(rel)
    for _, name in ipairs(witness.ls(dir .. rel)) do
      local path = rel .. "/" .. name
      if path ~= "/.repo.git/objects" then
        paths[#paths + 1] = path
        local st = fs.lstat(dir .. path)
        if st and st.type == "directory" then walk(path) end
      end
    end
  end
  walk("")
  return paths
end

--- Everything a polecat command could change in town `fx`: the files of the rig (git's refs,
--- records and locks included), every ref, and the ledger's rows. Two snapshots are equal when
--- the command changed nothing. `ignore` lists rig files to leave out (as "/.gt/locks/x.lock").
function witness.snapshot(fx, ignore)
  local files = {}
  local ignored = {}
  for _, path in ipairs(ignore or {}) do ignored[path] = true end
  for _, path in ipairs(tree(fx.rig)) do
    if not ignored[path] then files[#files + 1] = path end
  end
  return {
    files = files,
    town = witness.ls(fx.town),
    refs = helpers.git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(objectname) %(refname)"),
    agents = witness.query(fx, "SELECT * FROM agents ORDER BY id"),
    events = witness.query(fx, "SELECT * FROM events ORDER BY seq"),
    operations = witness.query(fx, "SELECT * FROM operations ORDER BY id"),
  }
end

--- Writes `source` to a file and runs it with `gt -l FILE ARGS...`; returns code, stdout, stderr.
function witness.script(source, args, opts)
  local path = helpers.tmpdir("script") .. "/script.lua"
  helpers.write(path, source)
  local argv = { "-l", path }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return helpers.gt(argv, opts)
end

--- Parses a branch of polecat `name` independently of gt.branch: returns { issue = id | nil,
--- ms = stamp }, or nil when the branch has neither of the two shapes.
function witness.parse_branch(branch, name)
  local quoted = name:gsub("%p", "%%%0")
  local stamp = branch:match("^polecat/" .. quoted .. "%-([0-9a-z]+)$")
  if stamp then return { ms = tonumber(stamp, 36) } end
  local issue
  issue, stamp = branch:match("^polecat/" .. quoted .. "/(.+)@([0-9a-z]+)$")
  if issue then return { issue = issue, ms = tonumber(stamp, 36) } end
  return nil
end

return witness
