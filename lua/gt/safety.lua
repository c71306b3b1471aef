--- gt.safety: what removing a polecat would lose (DESIGN §4, "remove").
--
-- Work is safe when it exists somewhere else. A polecat's worktree holds unsaved work when it
-- has uncommitted changes (staged, unstaged, conflicted), untracked files (ignored ones are
-- disposable by definition), stashes made on its branch (stashes are shared by every worktree
-- of the repository, so only those naming the branch count), or commits on no
-- remote-tracking branch. A branch whose changes are already in origin/<default> counts as
-- safe, squash-merged included: it is merged into the default tip in memory, and if the
-- result is the default tip's own tree, nothing would be lost.
local fs = require("gt.fs")
local errors = require("gt.errors")

local safety = {}

local function append_unique(list, seen, items)
  for _, item in ipairs(items) do
    if not seen[item.oid] then
      seen[item.oid] = true
      list[#list + 1] = item
    end
  end
end

--- Returns true if every change of commit `tip` is already in `base` (both revisions of repo).
function safety.absorbed(repo, base, tip)
  local merged = repo:merge_trees(base, tip)
  return merged ~= nil and merged == repo:tree_of(base)
end

--- Classifies the worktree and branch of `agent` (a ledger row) in `rig`. Returns a report:
--- { safe, staged, unstaged, untracked, conflicted (paths), stashes ({index, message, oid}),
---   unpushed ({oid, summary}), unpushed_total, absorbed, head, branch_tip, worktree_missing,
---   unreadable (why the worktree could not be read) }.
function safety.classify(rig, agent)
  local repo = rig:repo()
  local report = { name = agent.name, branch = agent.branch, path = agent.worktree, staged = {},
    unstaged = {}, untracked = {}, conflicted = {}, stashes = {}, unpushed = {}, unpushed_total = 0,
    absorbed = false, worktree_missing = false }
  local short = agent.branch and agent.branch:match("^refs/heads/(.+)$") or agent.branch
  local head_branch
  if agent.worktree and fs.stat(agent.worktree) then
    local worktree = require("gt.worktree")
    local w <close>, err = worktree.open(agent.worktree)
    if not w then
      report.unreadable = err
    else
      local status, serr = w:status()
      if not status then
        report.unreadable = serr
      else
        report.staged, report.unstaged = status.staged, status.unstaged
        report.untracked, report.conflicted = status.untracked, status.conflicted
      end
      local head = w:head()
      if head then
        report.head = head.oid
        head_branch = head.ref and head.ref:match("^refs/heads/(.+)$")
      end
    end
  else
    report.worktree_missing = true
  end

  local seen_stash = {}
  if short then append_unique(report.stashes, seen_stash, errors.check(repo:stashes(short))) end
  if head_branch and head_branch ~= short then
    append_unique(report.stashes, seen_stash, errors.check(repo:stashes(head_branch)))
  end

  local tips = {}
  if report.head then tips[#tips + 1] = report.head end
  report.branch_tip = short and repo:branch_lookup(short) or nil
  if report.branch_tip and report.branch_tip ~= report.head then tips[#tips + 1] = report.branch_tip end
  local seen_commit = {}
  local all_absorbed = true
  for _, tip in ipairs(tips) do
    local commits, total, code = repo:commits_not_on(tip, "refs/remotes/*", 20)
    errors.checked("listing commits of " .. tip, commits, total, code)
    if total > 0 then
      append_unique(report.unpushed, seen_commit, commits)
      report.unpushed_total = report.unpushed_total + total
      if not safety.absorbed(repo, rig:start_ref(), tip) then all_absorbed = false end
    end
  end
  report.absorbed = report.unpushed_total > 0 and all_absorbed

  report.safe = not report.unreadable and #report.staged == 0 and #report.unstaged == 0 and
    #report.untracked == 0 and #report.conflicted == 0 and #report.stashes == 0 and
    (report.unpushed_total == 0 or report.absorbed)
  return report
end

local function some(paths, max)
  local shown = {}
  for i = 1, math.min(#paths, max) do shown[i] = paths[i] end
  local s = table.concat(shown, ", ")
  if #paths > max then s = s .. (", and %d more"):format(#paths - max) end
  return s
end

local function count(n, one, many)
  return ("%d %s"):format(n, n == 1 and one or many)
end

--- Describes what a report says would be lost, one line per kind (empty when safe).
function safety.describe(report)
  local lines = {}
  if report.unreadable then
    lines[#lines + 1] = "worktree could not be read: " .. report.unreadable
  end
  if #report.staged > 0 then
    lines[#lines + 1] = count(#report.staged, "staged change", "staged changes") .. ": " .. some(report.staged, 5)
  end
  if #report.unstaged > 0 then
    lines[#lines + 1] = count(#report.unstaged, "uncommitted change", "uncommitted changes") ..
      ": " .. some(report.unstaged, 5)
  end
  if #report.untracked > 0 then
    lines[#lines + 1] = count(#report.untracked, "untracked file", "untracked files") .. ": " ..
      some(report.untracked, 5)
  end
  if #report.conflicted > 0 then
    lines[#lines + 1] = count(#report.conflicted, "conflicted file", "conflicted files") .. ": " ..
      some(report.conflicted, 5)
  end
  if #report.stashes > 0 then
    local msgs = {}
    for i, s in ipairs(report.stashes) do msgs[i] = ("stash@{%d} %s"):format(s.index, s.message) end
    lines[#lines + 1] = count(#report.stashes, "stash", "stashes") .. ": " .. some(msgs, 3)
  end
  if report.unpushed_total > 0 and not report.absorbed then
    local msgs = {}
    for i, c in ipairs(report.unpushed) do msgs[i] = c.oid:sub(1, 10) .. " " .. c.summary end
    lines[#lines + 1] = count(report.unpushed_total, "commit on no remote", "commits on no remote") ..
      ": " .. some(msgs, 3)
  end
  return lines
end

return safety
