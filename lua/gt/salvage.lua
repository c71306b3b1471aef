--- gt.salvage: saving a polecat's unsaved work before it is removed (DESIGN §4).
--
-- The salvage is one commit under refs/gt/salvage/<rig>/<name>/<stamp>: its tree is the whole
-- working tree (untracked files included, ignored ones not), and its parents keep everything
-- else reachable: the worktree's HEAD, the branch tip when it differs, a commit of the index
-- when it differs from both, and the stashes made on the branch. Nothing in the worktree or
-- its index is touched.
local errors = require("gt.errors")
local branch = require("gt.branch")
local sys = require("gt.sys")
local safety = require("gt.safety")

local salvage = {}

local checked = errors.checked

--- Saves what `report` (from gt.safety.classify) says would be lost; returns
--- { ref, commit, parents }. Raises a gt error if anything cannot be saved.
function salvage.save(rig, agent, report)
  local repo = rig:repo()
  local tree, index_tree
  local parents, seen = {}, {}
  local function parent(oid)
    if oid and not seen[oid] then seen[oid] = true; parents[#parents + 1] = oid end
  end
  if not report.worktree_missing then
    local worktree = require("gt.worktree")
    local w <close> = checked("opening worktree", worktree.open(agent.worktree))
    local err, code
    tree, index_tree, code = w:snapshot_tree()
    if not tree then err = index_tree end
    checked("saving the working tree", tree, err, code)
  end
  parent(report.head)
  parent(report.branch_tip)
  local base = report.head or report.branch_tip
  if not tree then tree = base and errors.check(repo:tree_of(base)) end
  if not tree then errors.raise("failure", "polecat %s has no commit and no worktree to save", agent.name) end
  local head_tree = report.head and repo:tree_of(report.head)
  if index_tree and index_tree ~= head_tree and index_tree ~= tree then
    parent(errors.check(repo:commit_create({ tree = index_tree, parents = { report.head },
      message = "gt: index of " .. rig.name .. "/" .. agent.name })))
  end
  for _, s in ipairs(report.stashes) do parent(s.oid) end
  local body = table.concat(safety.describe(report), "\n")
  local commit = checked("saving work", repo:commit_create({
    tree = tree,
    parents = parents,
    message = ("gt: salvage of %s/%s (%s)\n\n%s\n"):format(rig.name, agent.name,
      agent.branch or "no branch", body ~= "" and body or "no unsaved work found"),
  }))
  local ref = ("refs/gt/salvage/%s/%s/%s"):format(rig.name, agent.name, branch.base36(sys.now_ms()))
  checked("saving work", repo:ref_create(ref, commit, { message = "gt: salvage" }))
  return { ref = ref, commit = commit, parents = parents }
end

--- Lists the salvage refs of polecat `name` in `rig`: {{name, oid}...}.
function salvage.list(rig, name)
  return errors.check(rig:repo():refs(("refs/gt/salvage/%s/%s/*"):format(rig.name, name)))
end

return salvage
