--- gt.salvage: saving a polecat's unsaved work before anything of it is deleted (docs/design.md §4).
--
-- A salvage is one commit under refs/gt/salvage/<rig>/<name>/<stamp>. Its tree is the whole
-- working tree (untracked files included; ignored ones only when the rig's keep_ignored
-- patterns name them, like .env), and its parents keep everything else reachable: the
-- worktree's HEAD, the branch tip when it differs, a commit of the index when it differs from
-- both, a commit of the files that were beside the worktree in the polecat's folder, the
-- stashes made on the branch, and an earlier salvage of the same removal. The commit message
-- says which parent is which. Nothing in the worktree or its index is touched.
local errors = require("gt.errors")
local layout = require("gt.layout")
local branch = require("gt.branch")
local sys = require("gt.sys")
local safety = require("gt.safety")
local snapshot = require("gt.snapshot")

local salvage = {}

local check_doing = errors.check_doing

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
  parent(parts.head, "the worktree's HEAD")
  parent(parts.tip, "the branch tip")
  local base = parts.head or parts.tip
  local tree = parts.tree or (base and errors.check(repo:tree_of(base)))
  if not tree then errors.raise("failure", "polecat %s has no commit and no worktree to save", name) end
  local head_tree = parts.head and repo:tree_of(parts.head)
  if parts.index and parts.index ~= head_tree and parts.index ~= tree then
    parent(errors.check(repo:commit_create({ tree = parts.index, parents = { parts.head },
      message = "gt: index of " .. id })), "its index (what was staged)")
  end
  if parts.strays then
    parent(errors.check(repo:commit_create({ tree = parts.strays, parents = {},
      message = "gt: files beside the worktree of " .. id .. " (in polecats/" .. name .. "/)" })),
      "the files beside the worktree, in polecats/" .. name .. "/")
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

--- Lists the salvage refs of polecat `name` in `rig`: {{name, oid}...}.
function salvage.list(rig, name)
  return errors.check(rig:repo():refs(layout.salvage_prefix(rig.name, name) .. "/*"))
end

return salvage
