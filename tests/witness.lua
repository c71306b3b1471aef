-- What the polecat specs check after running gt, read from independent witnesses: the disk, the
-- git CLI and the ledger's tables (read with plain SQL, not through gt.store).
local fs = require("gt.fs")
local json = require("gt.json")
local ledger = require("gt.ledger")
local pg = require("gt.pg")
local luafile = require("gt.luafile")
local helpers = require("helpers")

local witness = {}

--- Where the ledger of town `town` is: the server .gt/town.lua names, else its sqlite file.
function witness.ledger_target(town)
  local config = luafile.read(town .. "/.gt/town.lua") or {}
  return config.ledger or (town .. "/.gt/ledger.db")
end

--- Opens the ledger of town `town` with the C module of its backend.
function witness.ledger(town)
  local target = witness.ledger_target(town)
  if target:sub(1, 1) ~= "/" then return assert(pg.open(target)) end
  return assert(ledger.open(target))
end

--- Rows of one query on the town's ledger.
function witness.query(fx, sql, ...)
  local db <close> = witness.ledger(fx.town)
  local rows = {}
  for row in db:rows(sql, ...) do rows[#rows + 1] = row end
  return rows
end

--- Waits (a bounded poll, up to `ms`, default 30 s) until the background deleters of the rig's
--- trash (gt.trash: a remove returns before its folder is deleted) are done: no trash operation
--- running and nothing left in <rig>/.gt/trash. Returns whether they are.
function witness.settle(fx, ms)
  local sys = require("gt.sys")
  local deadline = sys.clock_ms() + (ms or 30000)
  while true do
    local running = witness.query(fx, "SELECT id FROM operations WHERE status = 'running' AND kind = 'trash'")
    local left = fs.dir(fx.rig .. "/.gt/trash") or {}
    if #running == 0 and #left == 0 then return true end
    if sys.clock_ms() > deadline then return false end
    sys.sleep_ms(20)
  end
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
  witness.settle(fx) -- a remove's background deletion is not a change made after it
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

--- The git ids of `contents` (a list of strings) as blobs, in order (git hash-object).
function witness.blob_ids(contents)
  if #contents == 0 then return {} end
  local dir = helpers.tmpdir("blobs")
  local argv = { "git", "hash-object" }
  for i, c in ipairs(contents) do
    helpers.write(dir .. "/" .. i, c)
    argv[#argv + 1] = dir .. "/" .. i
  end
  local r = helpers.run(argv)
  assert(r.code == 0, r.stderr)
  return helpers.lines(r.stdout)
end

--- The set of blob ids reachable from every ref of the rig's repository (branches, remotes,
--- salvages, every stash: older stashes are in refs/stash's reflog) and from the HEAD and index
--- of each of its worktrees.
function witness.reachable_blobs(fx)
  local r = helpers.run({ "sh", "-c", "git rev-list --objects --all --reflog --indexed-objects | " ..
    "cut -d' ' -f1 | " ..
    "git cat-file --batch-check='%(objecttype) %(objectname)'" }, { cwd = fx.rig .. "/.repo.git" })
  assert(r.code == 0, r.stderr)
  local set = {}
  for kind, id in r.stdout:gmatch("(%a+) (%x+)") do
    if kind == "blob" then set[id] = true end
  end
  return set
end

--- The contents of the files on disk in the rig's polecat folders (not in what a removal moved
--- aside), as a set.
function witness.contents_on_disk(fx)
  local set = {}
  local function walk(dir)
    for _, n in ipairs(witness.ls(dir)) do
      local path = dir .. "/" .. n
      local st = fs.lstat(path)
      if st and st.type == "directory" then
        if n ~= ".git" then walk(path) end
      elseif st and st.type == "file" then
        local c = helpers.read(path)
        if c then set[c] = true end
      end
    end
  end
  for _, n in ipairs(witness.ls(fx.rig .. "/polecats")) do
    if not n:match("^%.trash%-") then walk(fx.rig .. "/polecats/" .. n) end
  end
  return set
end

--- Of `contents` (strings a user wrote), those that are nowhere any more: not in a file of a
--- polecat's folder, and not in a blob git keeps (a commit of a branch, a salvage, a stash, an
--- index). The invariant of gt: this is always empty.
function witness.lost(fx, contents)
  witness.settle(fx)
  local on_disk = witness.contents_on_disk(fx)
  local kept = witness.reachable_blobs(fx)
  local ids = witness.blob_ids(contents)
  local lost = {}
  for i, c in ipairs(contents) do
    if not on_disk[c] and not kept[ids[i]] then lost[#lost + 1] = c end
  end
  return lost
end

--- The lines a writer process appended to the file `log`, each with its newline: the contents
--- it wrote (and so, that gt must keep).
function witness.logged(log)
  local list = {}
  for line in (helpers.read(log) or ""):gmatch("[^\n]+") do list[#list + 1] = line .. "\n" end
  return list
end

--- What gt's records say against what is on disk, for the invariant "ledger, folders, git
--- records and branches agree": returns a list of disagreements (empty when they agree). No
--- operation may be left running, no folder moved aside.
function witness.disagreements(fx)
  local problems = {}
  local function say(...) problems[#problems + 1] = string.format(...) end
  if not witness.settle(fx) then say("the trash of rig %s is not deleted", fx.name) end
  local live = {}
  for _, a in ipairs(witness.query(fx, "SELECT * FROM agents WHERE rig = ?", fx.name)) do
    if a.state ~= "removed" and a.state ~= "failed" then live[a.name] = a end
  end
  for _, op in ipairs(witness.query(fx, "SELECT * FROM operations WHERE status = 'running'")) do
    say("operation %d (%s of %s) is still running", op.id, op.kind, op.agent)
  end
  local records = {}
  for _, n in ipairs(witness.records(fx)) do records[n] = true end
  local branches = {}
  for _, b in ipairs(witness.branches(fx, "polecat/")) do branches[b] = true end
  local folders = {}
  for _, n in ipairs(witness.ls(fx.rig .. "/polecats")) do folders[n] = true end
  for name, a in pairs(live) do
    -- An idle polecat (gt polecat done) keeps its worktree; its branch is gone once on origin.
    if a.state ~= "working" and a.state ~= "idle" then say("%s is %s", name, a.state) end
    if not folders[name] then say("%s has no folder", name) end
    if not records[name] then say("%s has no worktree record", name) end
    if (a.branch or a.state ~= "idle") and not branches[a.branch] then
      say("%s has no branch %s", name, tostring(a.branch))
    end
    folders[name], records[name] = nil, nil
    if a.branch then branches[a.branch] = nil end
  end
  for n in pairs(folders) do say("folder polecats/%s belongs to no live polecat", n) end
  for n in pairs(records) do say("worktree record %s belongs to no live polecat", n) end
  for b in pairs(branches) do say("branch %s belongs to no live polecat", b) end
  table.sort(problems)
  return problems
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
