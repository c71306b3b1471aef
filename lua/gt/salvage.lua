--- gt.salvage: saving a polecat's unsaved work before anything of it is deleted (docs/design.md §4).
--
-- A salvage is one commit under refs/gt/salvage/<rig>/<name>/<stamp>. Its tree is the whole
-- working tree (untracked files included; ignored ones only when the rig's keep_ignored
-- patterns name them, like .env), and its parents keep everything else reachable: the
-- worktree's HEAD, the branch tip when it differs, a commit of the index when it differs from
-- HEAD's tree, a commit of the files that were beside the worktree in the polecat's folder, the
-- stashes made on the branch, and an earlier salvage of the same removal. The commit message
-- says which parent is which (its legend: salvage.parse reads it back). Nothing in the worktree
-- or its index is touched.
--
-- Getting work back (docs/design.md §4.4): salvage.entries and salvage.read say what a salvage
-- holds; salvage.plan_restore and salvage.restore put it into a new polecat, or over a clean one
-- at the same commit (files, index, stashes, the files beside the worktree); salvage.drop and
-- salvage.prune delete salvage refs, and nothing else.
local fs = require("gt.fs")
local git = require("gt.git")
local errors = require("gt.errors")
local layout = require("gt.layout")
local branch = require("gt.branch")
local name_rules = require("gt.names")
local output = require("gt.output")
local sys = require("gt.sys")
local store = require("gt.store")
local filters = require("gt.filters")
local safety = require("gt.safety")
local snapshot = require("gt.snapshot")
local fault = require("gt.fault")

local salvage = {}

local check_doing = errors.check_doing

--- What the legend of a salvage commit's message calls each of its parents: salvage.write
--- writes it, salvage.parse reads it back. `strays` is a format taking the polecat's name; a
--- stash is "stash@{<n>} <its message>"; gt.reap names an earlier salvage of the same removal
--- `earlier`.
salvage.LEGEND = {
  head = "the worktree's HEAD",
  tip = "the branch tip",
  index = "its index (what was staged)",
  strays = "the files beside the worktree, in polecats/%s/",
  earlier = "an earlier salvage of this removal",
}
local LEGEND = salvage.LEGEND

--- How to get back the work saved in salvage `ref` of `rig`: a git command.
function salvage.restore_hint(rig, ref)
  return ("git -C %s worktree add <folder> %s"):format(layout.repo(rig.root), ref)
end

--- Path of the index of polecat `name`'s worktree, in the rig's repository (git's record of the
--- worktree is named after the polecat).
function salvage.index_path(rig, name)
  return layout.worktree_admin(rig:repo():commondir(), name) .. "/index"
end

--- Takes the worktree at `path` (of polecat `name`) as a tree: returns the open snapshot (to
--- close, or to remove from), the tree and the index tree; `skip`: the repositories nested in
--- it, which a tree cannot hold (proven safe apart). Raises a refusal naming what could not be
--- read.
function salvage.take_worktree(rig, name, path, keep, skip)
  local s, err, code = snapshot.open(rig:repo(), path, { index = salvage.index_path(rig, name) })
  if s then
    local tree, index_tree, tcode = s:take({ keep = keep, skip = skip })
    if tree then return s, tree, index_tree end
    s:close()
    err, code = index_tree, tcode
  end
  if code == "EINTR" then errors.raise("interrupted", "interrupted") end
  errors.raise("refused", "could not save the work of polecat %s: %s", name, err)
end

--- Takes the entries `names` of the polecat's folder `home` (what is beside its worktree) as a
--- tree: returns the open snapshot and the tree, or raises a refusal.
function salvage.take_strays(rig, name, home, names)
  local s, err, code = snapshot.open(rig:repo(), home, { all = true, only = names })
  if s then
    local tree, terr, tcode = s:take()
    if tree then return s, tree end
    s:close()
    err, code = terr, tcode
  end
  if code == "EINTR" then errors.raise("interrupted", "interrupted") end
  errors.raise("refused", "could not save the files beside polecat %s's worktree: %s", name, err)
end

--- Writes a salvage commit and its ref. parts: tree (the worktree's, or nil when it is gone),
--- index (its index's tree, or nil), strays (the tree of what was beside it, or nil), head,
--- tip (commit ids, or nil), also (more parents: {oid, what}), what (lines saying what was
--- unsaved). Returns { ref, commit, tree, parents }.
function salvage.write(rig, name, branch_name, parts)
  local repo = rig:repo()
  local parents, seen, legend = {}, {}, {}
  local function parent(oid, what)
    if oid and not seen[oid] then
      seen[oid] = true
      parents[#parents + 1] = oid
      legend[#legend + 1] = ("  %d: %s"):format(#parents, what)
    end
  end
  local id = layout.id(rig.name, name)
  parent(parts.head, LEGEND.head)
  parent(parts.tip, LEGEND.tip)
  local base = parts.head or parts.tip
  local tree = parts.tree or (base and errors.check(repo:tree_of(base)))
  if not tree then errors.raise("failure", "polecat %s has no commit and no worktree to save", name) end
  local head_tree = parts.head and repo:tree_of(parts.head)
  -- Also when it is the worktree's own tree: a restore then stages what was staged.
  if parts.index and parts.index ~= head_tree then
    parent(errors.check(repo:commit_create({ tree = parts.index, parents = { parts.head },
      message = "gt: index of " .. id })), LEGEND.index)
  end
  if parts.strays then
    parent(errors.check(repo:commit_create({ tree = parts.strays, parents = {},
      message = "gt: files beside the worktree of " .. id .. " (in polecats/" .. name .. "/)" })),
      LEGEND.strays:format(name))
  end
  for _, p in ipairs(parts.also or {}) do parent(p.oid, p.what) end
  local body = table.concat(parts.what or {}, "\n")
  local commit = check_doing("saving work", repo:commit_create({
    tree = tree,
    parents = parents,
    message = ("gt: salvage of %s (%s)\n\n%s\n\nparents:\n%s\n"):format(id, branch_name or "no branch",
      body ~= "" and body or "no unsaved work found", table.concat(legend, "\n")),
  }))
  local ref = layout.salvage_prefix(rig.name, name) .. "/" .. branch.base36(sys.now_ms())
  local ok, err, code = repo:ref_create(ref, commit, { message = "gt: salvage" })
  if not ok and code == "EEXISTS" then -- two salvages within a millisecond
    ref = ref .. "-" .. commit:sub(1, 8)
    ok, err, code = repo:ref_create(ref, commit, { message = "gt: salvage" })
  end
  check_doing("saving work", ok, err, code)
  return { ref = ref, commit = commit, tree = tree, parents = parents }
end

--- Saves what `report` (from gt.safety.classify) says would be lost, and the ignored files
--- the rig keeps (keep_ignored, .env* by default). Returns { ref, commit, tree, index, strays,
--- parents }: tree, index and strays are the trees of the worktree, of its index and of what is
--- beside it, which a removal then proves it deletes nothing else than. Raises a refusal
--- (exit 3) when it cannot save it all.
function salvage.save(rig, agent, report)
  local tree, index_tree, strays
  if not report.worktree_missing then
    local _ <close>, t, it = salvage.take_worktree(rig, agent.name, agent.worktree,
      rig:option("keep_ignored"), report.repos)
    tree, index_tree = t, it
  end
  if #report.strays > 0 then
    local _ <close>, t = salvage.take_strays(rig, agent.name, rig:home(agent.name), report.strays)
    strays = t
  end
  local also = {}
  for _, st in ipairs(report.stashes) do
    also[#also + 1] = { oid = st.oid, what = ("stash@{%d} %s"):format(st.index, st.message) }
  end
  local what = safety.describe(report)
  if #report.ignored.kept > 0 then
    what[#what + 1] = "ignored files kept: " .. table.concat(report.ignored.kept, ", ")
  end
  local saved = salvage.write(rig, agent.name, agent.branch, { tree = tree, index = index_tree,
    strays = strays, head = report.head, tip = report.branch_tip, also = also, what = what })
  saved.strays, saved.index = strays, index_tree
  return saved
end

--- Saves commit `commit` as it is under a salvage ref of polecat `name` (commits made on its
--- branch while it was being removed). Returns { ref, commit }.
function salvage.keep_commit(rig, name, commit)
  local ref = ("%s/%s-%s"):format(layout.salvage_prefix(rig.name, name), branch.base36(sys.now_ms()),
    commit:sub(1, 8))
  check_doing("saving work", rig:repo():ref_create(ref, commit, { message = "gt: salvage of a branch tip" }))
  return { ref = ref, commit = commit }
end

--- Lists the salvage refs of polecat `name` in `rig` (of every polecat of the rig when name is
--- nil): {{name, oid}...}, in no set order.
function salvage.list(rig, name)
  local prefix = name and layout.salvage_prefix(rig.name, name) or layout.salvages(rig.name)
  return errors.check(rig:repo():refs(prefix .. "/*"))
end

-- Reading salvages ---------------------------------------------------------------------------

local count = output.count

--- Reads the message of a salvage commit, as salvage.write writes it:
---
---   gt: salvage of <rig>/<name> (<branch> | no branch)
---
---   <what was unsaved, a line each | no unsaved work found>
---
---   parents:
---     1: the worktree's HEAD
---     2: ... (salvage.LEGEND)
---
--- `parents`: the commit's parent ids, in order. Returns nil when the message is no salvage's;
--- else { id, name, branch (nil for "no branch"), what (lines), head, tip, index, strays
--- (parent ids, or nil), stashes ({oid, index, message}, in the legend's order), earlier (ids),
--- other ({oid, what}), legend }. legend is false when the legend does not name every parent:
--- then only head is known, as the first parent.
function salvage.parse(message, parents)
  local id, named = message:match("^gt: salvage of (%S+) %(([^\n]*)%)\n")
  local _, name = layout.split_id(id or "")
  if not name then return nil end
  local info = { id = id, name = name, branch = named ~= "no branch" and named or nil, what = {},
    stashes = {}, earlier = {}, other = {}, legend = false }
  -- The legend is the last block: what was unsaved names files, which may be called anything.
  local body_end, legend_at, from = #message + 1, #message + 1, 1
  while true do
    local s, e = message:find("\n\nparents:\n", from, true)
    if not s then break end
    body_end, legend_at, from = s, e + 1, s + 1
  end
  local body = message:sub(message:find("\n", 1, true) + 2, body_end - 1)
  if body ~= "no unsaved work found" then
    for line in body:gmatch("[^\n]+") do info.what[#info.what + 1] = line end
  end
  local texts = {}
  for line in message:sub(legend_at):gmatch("[^\n]+") do
    local n, text = line:match("^  (%d+): (.*)$")
    if tonumber(n) ~= #texts + 1 then texts = nil; break end
    texts[#texts + 1] = text
  end
  if not texts or #texts ~= #parents then
    info.head = parents[1]
    return info
  end
  info.legend = true
  local strays = LEGEND.strays:format(name)
  for i, text in ipairs(texts) do
    local oid = parents[i]
    local n, stash = text:match("^stash@{(%d+)} (.*)$")
    if text == LEGEND.head then info.head = oid
    elseif text == LEGEND.tip then info.tip = oid
    elseif text == LEGEND.index then info.index = oid
    elseif text == strays then info.strays = oid
    elseif text == LEGEND.earlier then info.earlier[#info.earlier + 1] = oid
    elseif n then info.stashes[#info.stashes + 1] = { oid = oid, index = tonumber(n), message = stash }
    else info.other[#info.other + 1] = { oid = oid, what = text } end
  end
  return info
end

--- The polecat's name and the time (Unix ms, from its stamp) of salvage ref `ref` of rig
--- `rig_name` (refs/gt/salvage/<rig>/<name>/<stamp>[-<8 hex>]); nil when it is not one (the time
--- is nil when the stamp is not one gt writes).
function salvage.parse_ref(rig_name, ref)
  local prefix = layout.salvages(rig_name) .. "/"
  if ref:sub(1, #prefix) ~= prefix then return nil end
  local name, stamp = ref:sub(#prefix + 1):match("^([^/]+)/([^/]+)$")
  if not name then return nil end
  local base = stamp:match("^([0-9a-z]+)$") or stamp:match("^([0-9a-z]+)%-%x+$")
  return name, base and branch.from_base36(base) or nil
end

--- Adds to `e` the stashes of the earlier salvages of the same removal that it names (a
--- removal that found new work saved it again, with the first salvage as a parent).
local function inherit_stashes(repo, e)
  local seen = {}
  for _, st in ipairs(e.stashes) do seen[st.oid] = true end
  local queue, hops = { table.unpack(e.earlier) }, 0
  while #queue > 0 and hops < 32 do
    hops = hops + 1
    local c = repo:commit(table.remove(queue, 1))
    local earlier = c and salvage.parse(c.message, c.parents)
    for _, st in ipairs(earlier and earlier.stashes or {}) do
      if not seen[st.oid] then
        seen[st.oid] = true
        e.stashes[#e.stashes + 1] = st
      end
    end
    for _, oid in ipairs(earlier and earlier.earlier or {}) do queue[#queue + 1] = oid end
  end
end

--- Reads salvage ref `ref` of `rig` (`oid`: where it points, when known). Returns an entry: {
--- ref, tail ("<name>/<stamp>": what the commands show and accept), rig, name (the polecat's),
--- time (Unix ms: the stamp's, else the commit's), commit, tree, summary, kind ("salvage": written
--- by salvage.write; "commit": a commit kept as it was by salvage.keep_commit, its own head), and
--- salvage.parse's fields, with the trees of head, index and strays (head_tree, index_tree,
--- strays_tree). The stashes of earlier salvages of the same removal count as its own.
function salvage.read(rig, ref, oid)
  local repo = rig:repo()
  local c = check_doing("reading " .. ref, repo:commit(oid or ref))
  local name, ms = salvage.parse_ref(rig.name, ref)
  local e = salvage.parse(c.message, c.parents)
  if e then
    e.kind = "salvage"
    inherit_stashes(repo, e)
  else
    e = { kind = "commit", head = c.oid, what = {}, stashes = {}, earlier = {}, other = {}, legend = true }
  end
  e.ref, e.rig, e.name = ref, rig.name, name or e.name
  e.tail = name and ref:sub(#layout.salvages(rig.name) + 2) or ref
  e.time = ms or c.time * 1000
  e.commit, e.tree, e.summary = c.oid, c.tree, c.summary
  local function tree(commit) return commit and check_doing("reading " .. commit, repo:tree_of(commit)) end
  e.head_tree, e.index_tree, e.strays_tree = tree(e.head), tree(e.index), tree(e.strays)
  return e
end

--- Adds to entry `e` (salvage.read) what it holds, as lists: changes (the files that differ from
--- its HEAD: {path, status}), staged (what its index stages against HEAD; nil when it kept no
--- index, its index being HEAD's), beside (the files that were beside the worktree). Returns e.
function salvage.describe(rig, e)
  local repo = rig:repo()
  local function diff(a, b) return check_doing("comparing trees", repo:diff_trees(a, b)) end
  e.changes = diff(e.head_tree, e.tree)
  e.staged = e.index_tree and diff(e.head_tree, e.index_tree) or nil
  e.beside = {}
  for _, d in ipairs(e.strays_tree and diff(nil, e.strays_tree) or {}) do e.beside[#e.beside + 1] = d.path end
  return e
end

--- What entry `e` (salvage.describe) holds, in a few words.
function salvage.holds(e)
  if e.kind == "commit" then return "a branch tip: " .. e.summary end
  local parts = {}
  if #e.changes > 0 then parts[#parts + 1] = count(#e.changes, "file", "files") .. " changed" end
  if e.staged then parts[#parts + 1] = count(#e.staged, "staged change", "staged changes") end
  if #e.stashes > 0 then parts[#parts + 1] = count(#e.stashes, "stash", "stashes") end
  if #e.beside > 0 then parts[#parts + 1] = count(#e.beside, "file", "files") .. " beside" end
  if e.tip and e.tip ~= e.head then parts[#parts + 1] = "a branch tip" end
  return #parts > 0 and table.concat(parts, ", ") or "nothing beyond its HEAD"
end

--- The salvages of `rig` (of polecat `name` only, when given), oldest first, read and described
--- (salvage.read, salvage.describe).
function salvage.entries(rig, name)
  if name then name_rules.check(name, "polecat name") end
  local list = {}
  for _, r in ipairs(salvage.list(rig, name)) do
    list[#list + 1] = salvage.describe(rig, salvage.read(rig, r.name, r.oid))
  end
  table.sort(list, function(a, b)
    if a.time ~= b.time then return a.time < b.time end
    return a.ref < b.ref
  end)
  return list
end

--- The salvage `spec` names in `rig`: its full ref, or a tail of it that one salvage alone has
--- ("fixer-bot/mx2jnp0f", "mx2jnp0f"), read (salvage.read). Raises notfound (exit 4), or usage
--- (exit 2) for a tail several salvages share.
function salvage.find(rig, spec)
  local found = {}
  local full = spec:sub(1, 5) == "refs/"
  for _, r in ipairs(salvage.list(rig)) do
    if r.name == spec or (not full and spec ~= "" and ("/" .. r.name):sub(-#spec - 1) == "/" .. spec) then
      found[#found + 1] = r
    end
  end
  if #found == 0 then
    errors.raise("notfound", "no salvage %s in rig %s (gt salvage list shows them)", errors.quote(spec),
      rig.name)
  elseif #found > 1 then
    local tails = {}
    for i, r in ipairs(found) do tails[i] = r.name:sub(#layout.salvages(rig.name) + 2) end
    table.sort(tails)
    errors.raise("usage", "salvage %s is ambiguous in rig %s: %s", errors.quote(spec), rig.name,
      output.some(tails, 5))
  end
  return salvage.read(rig, found[1].name, found[1].oid)
end

-- Restoring ----------------------------------------------------------------------------------

--- The steps of a restore, as its journal operation plans them.
local RESTORE_STEPS = { "head", "files", "index", "stashes", "beside" }

--- A function that keeps `facts` in the data of journal operation `op` of `db`.
local function persister(db, op)
  return function(facts)
    store.tx(db, function() store.op_update(db, op, facts) end)
  end
end

--- The paths of the worktree at `path` where something is in the way of a file that `changes`
--- (from the worktree's HEAD to a salvage) adds: something on disk where HEAD has nothing (in a
--- worktree that holds no unsaved work, an ignored file). Sorted.
local function in_the_way(path, changes)
  local changed, blocked, list = {}, {}, {}
  for _, d in ipairs(changes) do changed[d.path] = true end
  for _, d in ipairs(changes) do
    if d.status == "added" then
      local parts = {}
      for part in d.path:gmatch("[^/]+") do parts[#parts + 1] = part end
      for i = 1, #parts do
        local q = table.concat(parts, "/", 1, i)
        local st = fs.lstat(path .. "/" .. q)
        if not st then break end
        if i == #parts or (st.type ~= "directory" and not changed[q]) then
          blocked[q] = true
          break
        end
      end
    end
  end
  for p in pairs(blocked) do list[#list + 1] = p end
  table.sort(list)
  return list
end

--- Raises a refusal when something is where the restore of `plan` writes a file that the
--- worktree at `path` (at the salvage's HEAD) lacks: in the worktree or beside it. `what`: what
--- such files are, for the message, and `after` what the refusal leaves.
local function check_room(plan, path, what, after)
  local blocked = in_the_way(path, plan.changes)
  for _, n in ipairs(plan.beside_names) do
    if fs.lstat(plan.home .. "/" .. n) then blocked[#blocked + 1] = plan.home .. "/" .. n end
  end
  if #blocked > 0 then
    errors.raise("refused", "polecat %s has files where the salvage puts its own (%s, which a " ..
      "restore would overwrite): %s; %s", plan.name, what, output.some(blocked, 5), after)
  end
end

--- Checks that live polecat plan.agent can take the salvage's files (run again under its lock):
--- it holds nothing that exists nowhere else, its worktree is at the salvage's HEAD, and none of
--- its ignored files, nor anything beside its worktree, is where the salvage puts a file.
local function check_target(rig, plan)
  local agent, name = plan.agent, plan.name
  if agent.state == "spawning" or agent.state == "removing" then
    errors.raise("failure", "polecat %s is %s: try again when that is done", name, agent.state)
  end
  if not agent.worktree or not fs.stat(agent.worktree) then
    errors.raise("failure", "polecat %s has no worktree (%s is gone): restore into a new polecat " ..
      "with --into NEW-NAME", name, tostring(agent.worktree))
  end
  local report = safety.classify(rig, agent)
  if report.unpushed_total > 0 and report.head == plan.start and
      (report.branch_tip == nil or report.branch_tip == plan.start) then
    -- Its commits are those of the salvage's HEAD, which the salvage keeps.
    report.unpushed, report.unpushed_total = {}, 0
    report.safe = report.savable and #report.staged + #report.unstaged + #report.untracked +
      #report.conflicted + #report.stashes + #report.strays == 0
  end
  if not report.safe then
    errors.raise("refused", "polecat %s holds work that exists nowhere else, which restoring " ..
      "over it could lose:\n  %s\nnothing was changed; save that work first, or restore into a new " ..
      "polecat with --into NEW-NAME", name, table.concat(safety.describe(report), "\n  "))
  end
  if report.head ~= plan.start then
    errors.raise("refused", "polecat %s is at %s, the salvaged worktree was at %s: its files are " ..
      "only written over a worktree at the same commit; nothing was changed (restore into a new " ..
      "polecat with --into NEW-NAME)", name, report.head and report.head:sub(1, 12) or "no commit",
      plan.start:sub(1, 12))
  end
  check_room(plan, agent.worktree, "ignored files", "nothing was changed")
end

--- The lines saying what a restore does (the plan's steps).
local function restore_steps(plan)
  local e, steps = plan.entry, {}
  local function add(fmt, ...) steps[#steps + 1] = fmt:format(...) end
  if plan.new then
    add("spawn polecat %s at %s (%s), on a new branch", plan.name, plan.start:sub(1, 12),
      e.kind == "commit" and "the commit kept" or "the salvaged worktree's HEAD")
    if plan.tip then
      add("point its branch at %s (the salvaged branch tip) and detach its worktree's HEAD at %s, " ..
        "as they were", plan.tip:sub(1, 12), plan.start:sub(1, 12))
    end
  else
    add("write into polecat %s, clean and at %s", plan.name, plan.start:sub(1, 12))
    if plan.tip then
      add("leave its branch where it is (the salvaged branch tip, %s, goes only into a new polecat)",
        plan.tip:sub(1, 12))
    end
  end
  local n = { added = 0, modified = 0, deleted = 0, typechange = 0 }
  for _, d in ipairs(plan.changes) do n[d.status] = (n[d.status] or 0) + 1 end
  if #plan.changes > 0 then
    add("write the working tree into %s: %d added, %d changed, %d deleted", plan.path, n.added,
      n.modified + n.typechange, n.deleted)
  else
    add("write no file: the working tree was its HEAD's")
  end
  if #plan.staged > 0 then
    local paths = {}
    for i, d in ipairs(plan.staged) do paths[i] = d.path end
    add("write the index: %s (%s)", count(#plan.staged, "staged change", "staged changes"),
      output.some(paths, 5))
  else
    add("write the index as its HEAD's: nothing was staged")
  end
  for _, st in ipairs(plan.stashes) do
    if st.present then
      add("leave stash %s (%s) as it is: it is still in the stash list", st.message, st.oid:sub(1, 12))
    else
      add("store stash %s (%s)", st.message, st.oid:sub(1, 12))
    end
  end
  if #plan.beside > 0 then
    add("write %s beside the worktree, into %s: %s", count(#plan.beside, "file", "files"), plan.home,
      output.some(plan.beside, 5))
  end
  add("keep %s (gt salvage drop %s deletes it)", e.ref, e.tail)
  return steps
end

--- Plans the restore of salvage `e` (salvage.read) in `rig`, changing nothing. Into polecat
--- opts.into (default: the salvage's polecat's name, which must then be free): a new polecat
--- unless a live one has that name. A new polecat starts at the salvage's HEAD, its branch at
--- the salvaged branch tip. Over a live polecat, its files are written only when it holds
--- nothing that exists nowhere else and its worktree is at the salvage's HEAD (else exit 3);
--- its branch stays where it is. Returns the plan salvage.restore executes; plan.steps says
--- what it does.
function salvage.plan_restore(rig, e, opts)
  opts = opts or {}
  local repo = rig:repo()
  local name = opts.into or e.name
  name_rules.check(name, "polecat name")
  local agent = store.agent_get(rig.town:ledger(), layout.id(rig.name, name))
  local live = agent ~= nil and store.LIVE[agent.state] ~= nil
  if live then store.check_local(rig.town:ledger(), agent) end
  if live and not opts.into then
    errors.raise("failure", "polecat %s exists in rig %s: restore into it with --into %s (its " ..
      "worktree must be clean and at the salvage's HEAD), or into a new polecat with --into NEW-NAME",
      name, rig.name, name)
  end
  local start = e.head or e.tip
  if not start then errors.raise("failure", "%s holds no commit to start a polecat from", e.ref) end
  local head_tree = check_doing("reading " .. start, repo:tree_of(start))
  local function diff(a, b) return check_doing("comparing trees", repo:diff_trees(a, b)) end
  local plan = { entry = e, name = name, new = not live, agent = live and agent or nil, start = start,
    tip = e.tip ~= start and e.tip or nil, head_tree = head_tree, tree = e.tree,
    index_tree = e.index_tree or head_tree, strays_tree = e.strays_tree,
    home = layout.home(rig.root, name),
    path = live and agent.worktree or layout.worktree(rig.root, rig.name, name),
    beside = {}, beside_names = {}, stashes = {} }
  plan.changes = diff(head_tree, e.tree)
  plan.staged = diff(head_tree, plan.index_tree)
  local top = {}
  for _, d in ipairs(e.strays_tree and diff(nil, e.strays_tree) or {}) do
    plan.beside[#plan.beside + 1] = d.path
    local n = d.path:match("^[^/]+")
    if not top[n] then top[n] = true; plan.beside_names[#plan.beside_names + 1] = n end
  end
  -- Stored oldest first, so that the newest ends up stash@{0}, as they were.
  local present = {}
  for _, st in ipairs(check_doing("listing stashes", repo:stashes())) do present[st.oid] = true end
  for i, st in ipairs(e.stashes) do
    plan.stashes[i] = { oid = st.oid, index = st.index or i, order = i, present = present[st.oid] == true,
      message = st.message or check_doing("reading " .. st.oid, repo:commit(st.oid)).summary }
  end
  table.sort(plan.stashes, function(a, b)
    if a.index ~= b.index then return a.index > b.index end
    return a.order > b.order
  end)
  if plan.new then
    if fs.lstat(plan.home) then
      errors.raise("failure", "%s exists but no live polecat %s does; move it away first", plan.home, name)
    end
  else
    check_target(rig, plan)
  end
  plan.steps = restore_steps(plan)
  return plan
end

--- Drops the stashes a restore stored (facts.stored: their commits, oldest first), newest first.
--- Returns the problems met.
local function drop_stored(repo, facts)
  local problems = {}
  for i = #(facts.stored or {}), 1, -1 do
    local oid = facts.stored[i]
    for _, st in ipairs(repo:stashes() or {}) do
      if st.oid == oid then
        local ok, err = repo:stash_drop(st.index, oid)
        if not ok then problems[#problems + 1] = err end
        break
      end
    end
  end
  facts.stored = {}
  return problems
end

--- Writes what `plan` holds into its polecat's worktree, index, stash list and folder,
--- recording in `facts` (kept by `persist`) what an undo needs; `step(name)` marks each step done.
local function write_restore(rig, plan, facts, persist, step)
  local repo = rig:repo()
  local e = plan.entry
  local w <close> = check_doing("opening worktree " .. plan.path, git.open(plan.path))
  local head = check_doing("reading the HEAD of " .. plan.path, w:head())
  if head.oid ~= plan.start then
    errors.raise("failure", "its worktree is at %s, not at %s (did a pre_spawn hook change its start?)",
      tostring(head.oid), plan.start)
  end
  -- A post_spawn hook may have written files since (a live polecat was checked under its lock).
  if plan.new then
    check_room(plan, plan.path, "written since it was spawned", "the polecat is taken apart again")
  end
  if plan.new and plan.tip then
    check_doing("detaching the HEAD of " .. plan.path, w:detach_head(plan.start))
    facts.tip = plan.tip
    persist(facts)
    check_doing("moving branch " .. facts.branch, repo:ref_create("refs/heads/" .. facts.branch,
      plan.tip, { force = true, message = "gt: restore of " .. e.ref }))
  end
  step("head")
  local needs = filters.needed(repo, e.commit, rig.town:ledger())
  check_doing("writing the files of " .. e.tail, w:checkout_tree(plan.tree, { baseline = plan.head_tree,
    force = true, disable_filters = not needs }))
  step("files")
  fault.point("restore.files")
  check_doing("writing the index", w:index_read_tree(plan.index_tree))
  step("index")
  for _, st in ipairs(plan.stashes) do
    if not st.present then
      facts.stored[#facts.stored + 1] = st.oid
      persist(facts)
      check_doing("storing stash " .. st.oid:sub(1, 12), repo:stash_store(st.oid, st.message))
    end
  end
  step("stashes")
  fault.point("restore.stashes")
  if plan.strays_tree then
    facts.beside = plan.beside_names
    persist(facts)
    check_doing("writing the files beside the worktree", repo:checkout_to(plan.strays_tree, plan.home,
      { disable_filters = not needs }))
  end
  step("beside")
end

--- Undoes a restore into a new polecat (`facts`: its journal's): drops the stashes it stored,
--- then takes the polecat apart through gt.reap, which proves that what goes is in the salvage
--- (or saves it anew). Returns the problems met, whether the polecat is gone, and the salvages
--- made.
function salvage.undo_restore(rig, facts, persist)
  local reap = require("gt.reap") -- here, not at the top: gt.reap requires this module
  local problems = drop_stored(rig:repo(), facts)
  persist(facts)
  local ok, result = xpcall(reap.run, errors.handler, rig, facts, "salvage", persist)
  if not ok then
    problems[#problems + 1] = tostring(errors.is(result) and result.message or result)
    return problems, false, {}
  end
  return problems, true, result.salvages
end

--- Puts polecat plan.name's worktree back as it was before a restore wrote into it (clean, at
--- plan.start: HEAD's files and index), drops the stashes it stored and deletes the files it
--- wrote beside the worktree (nothing was there). Returns the problems met.
local function undo_existing(rig, plan, facts)
  local repo = rig:repo()
  local problems = drop_stored(repo, facts)
  local function try(what, ok, err)
    if not ok then problems[#problems + 1] = what .. ": " .. tostring(err) end
  end
  local w, err = git.open(plan.path)
  if w then
    try("writing HEAD's files", w:checkout_tree(plan.head_tree, { baseline = plan.tree, force = true }))
    try("writing HEAD's index", w:index_read_tree(plan.head_tree))
    w:close()
  else
    problems[#problems + 1] = err
  end
  for _, n in ipairs(facts.beside or {}) do
    local ok, rerr, code = fs.remove_tree(plan.home .. "/" .. n)
    if not ok and code ~= "ENOTFOUND" then problems[#problems + 1] = rerr end
  end
  return problems
end

--- Writes `plan`'s salvage (write_restore) under a journaled "restore" operation of polecat
--- `id`, whose data is `facts`. If that fails, `undo(op, persist, err)` takes back what was
--- written and records it, returning the problems it met: they are warned about and the error
--- is raised again. Else the event `restored`, and the operation is done.
local function journaled_restore(rig, plan, id, facts, undo)
  local db = rig.town:ledger()
  local e = plan.entry
  local op
  store.tx(db, function() op = store.op_begin(db, "restore", id, RESTORE_STEPS, facts) end)
  local persist = persister(db, op)
  local function step(name) store.tx(db, function() store.op_step(db, op, name, facts) end) end
  local ok, err = xpcall(write_restore, errors.handler, rig, plan, facts, persist, step)
  if not ok then
    for _, p in ipairs(undo(op, persist, err)) do output.warn("rollback of %s: %s", plan.name, p) end
    errors.rethrow(err, ("restoring %s into polecat %s"):format(e.tail, plan.name))
  end
  store.tx(db, function()
    store.event(db, id, "restored", { salvage = e.ref, commit = e.commit })
    store.op_finish(db, op, "done")
  end)
end

--- Restores into a new polecat (plan.new).
local function restore_new(rig, plan)
  local polecat = require("gt.polecat") -- here, not at the top: gt.polecat requires this module
  local e = plan.entry
  local added = polecat.add(rig, plan.name, { start_ref = plan.start, fetch = false, fresh = true })
  local lk <close> = rig:lock(layout.polecat_lock(plan.name), "gt salvage restore " .. plan.name)
  local db = rig.town:ledger()
  local id = layout.id(rig.name, plan.name)
  -- gt.reap's facts: what the salvage holds is saved.
  local facts = { id = id, name = plan.name, home = plan.home, branch = added.branch, tip = plan.start,
    head = plan.start, covered = { plan.head_tree, plan.tree, plan.index_tree },
    strays_covered = plan.strays_tree, keep = rig:option("keep_ignored"), delete_branch = true,
    new = true, restoring = e.ref, stored = {} }
  journaled_restore(rig, plan, id, facts, function(op, persist, err)
    local problems, gone, salvages = salvage.undo_restore(rig, facts, persist)
    for _, saved in ipairs(salvages) do
      output.note("gt: what polecat %s held beyond %s was saved to %s", plan.name, e.tail, saved.ref)
    end
    store.tx(db, function()
      local data = { step = "restore", error = tostring(err), undo_problems = problems }
      if gone then
        store.agent_set_state(db, id, "failed", "failed", data)
        store.op_finish(db, op, "rolled_back")
      else
        store.event(db, id, "failed", data) -- left for the next command, or gt doctor --fix
      end
    end)
    return problems
  end)
  return { name = plan.name, new = true, branch = added.branch, path = added.path }
end

--- Restores over a live polecat (not plan.new).
local function restore_existing(rig, plan)
  local polecat = require("gt.polecat") -- here, not at the top: gt.polecat requires this module
  local e = plan.entry
  local lk <close> = rig:lock(layout.polecat_lock(plan.name), "gt salvage restore " .. plan.name)
  polecat.recover(rig, plan.name)
  plan.agent = polecat.get(rig, plan.name)
  plan.path = plan.agent.worktree
  check_target(rig, plan)
  local db = rig.town:ledger()
  local id = plan.agent.id
  local facts = { id = id, name = plan.name, new = false, restoring = e.ref, stored = {} }
  journaled_restore(rig, plan, id, facts, function(op, _, err)
    local problems = undo_existing(rig, plan, facts)
    store.tx(db, function()
      store.event(db, id, "restore_undone", { salvage = e.ref, reason = tostring(err),
        undo_problems = problems })
      store.op_finish(db, op, #problems == 0 and "rolled_back" or "failed")
    end)
    return problems
  end)
  return { name = plan.name, new = false, branch = plan.agent.branch, path = plan.path }
end

--- Executes a plan of salvage.plan_restore: into a new polecat (gt.polecat.add at the salvage's
--- HEAD, then its branch, files, index, stashes and the files beside the worktree), or over a
--- live one checked again under its lock. A failure undoes it all (a new polecat is taken apart
--- through gt.reap; a live one is put back as it was) and raises; a killed restore is finished
--- by the next command on the polecat (salvage.recover_restore). The salvage is kept. Returns
--- { name, new, branch, path }.
function salvage.restore(rig, plan)
  if plan.new then return restore_new(rig, plan) end
  return restore_existing(rig, plan)
end

--- Ends a restore a killed command left (journal operation `op` on polecat `name`): a new polecat
--- is taken apart (salvage.undo_restore), the salvage staying; a live one keeps what was
--- written, which the salvage also holds (said on stderr). Returns the salvages made and
--- whether the polecat is gone. Raises when taking it apart fails.
function salvage.recover_restore(rig, name, op)
  local db = rig.town:ledger()
  local id = layout.id(rig.name, name)
  local facts = op.data
  facts.id, facts.name = id, name
  if not facts.new then
    store.tx(db, function()
      store.event(db, id, "recovered", { operation = op.id, pid = op.pid,
        action = "left what an interrupted restore wrote", salvage = facts.restoring })
      store.op_finish(db, op.id, "failed")
    end)
    output.note("gt: a restore of %s into %s (pid %d) was interrupted: its worktree may hold part " ..
      "of it; the salvage still holds all of it", tostring(facts.restoring), name, op.pid)
    return {}, false
  end
  local problems, gone, salvages = salvage.undo_restore(rig, facts, persister(db, op.id))
  if not gone then
    errors.raise("failure", "polecat %s: rolling back an interrupted restore failed: %s", name,
      table.concat(problems, "; "))
  end
  store.tx(db, function()
    store.agent_set_state(db, id, "failed", "recovered", { operation = op.id, pid = op.pid,
      action = "rolled back interrupted restore", salvage = facts.restoring })
    store.op_finish(db, op.id, "rolled_back")
  end)
  for _, p in ipairs(problems) do output.warn("rollback of %s: %s", name, p) end
  output.note("gt: rolled back an interrupted restore of %s into %s (pid %d); the salvage is kept",
    tostring(facts.restoring), name, op.pid)
  return salvages, true
end

-- Dropping -----------------------------------------------------------------------------------

--- What dropping salvage `e` (salvage.describe) does, in a line.
function salvage.drop_step(e)
  return ("delete %s (commit %s: %s)"):format(e.ref, e.commit:sub(1, 12), salvage.holds(e))
end

--- Deletes the ref of salvage `e` (salvage.read), and nothing else, while it points where it did
--- when read. Its commits stay in the repository until git gc prunes them (two weeks after, by
--- default): `git update-ref <ref> <commit>` brings it back until then.
function salvage.drop(rig, e)
  local repo = rig:repo()
  local now, err, code = repo:ref_lookup(e.ref)
  if not now then check_doing("reading " .. e.ref, nil, err, code) end
  if now ~= e.commit then
    errors.raise("failure", "%s moved (to %s) since it was read; nothing was dropped", e.ref, now:sub(1, 12))
  end
  check_doing("deleting " .. e.ref, repo:ref_delete(e.ref))
end

--- Milliseconds in a duration: numbers with units s, m, h, d, w ("90m", "12h", "30d", "1h30m").
--- Raises a usage error (exit 2) naming `what` otherwise.
function salvage.duration(text, what)
  local ms = output.parse_duration(text)
  if not ms then
    errors.raise("usage", "%s needs a duration such as 30d, 12h or 90m (units s, m, h, d, w), got %s",
      what or "the duration", errors.quote(text))
  end
  return ms
end

--- The salvages of `rig` older than `ms` milliseconds at `now` (Unix ms), oldest first: what
--- salvage.prune drops.
function salvage.plan_prune(rig, ms, now)
  local list = {}
  for _, e in ipairs(salvage.entries(rig)) do
    if now - e.time > ms then list[#list + 1] = e end
  end
  return list
end

--- Drops the salvages `list` (salvage.plan_prune) of `rig`, oldest first.
function salvage.prune(rig, list)
  for _, e in ipairs(list) do salvage.drop(rig, e) end
end

return salvage
