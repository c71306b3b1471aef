-- Refuses to remove a polecat while its branch says its issue is still open: a commit on the
-- branch whose message has the trailer "Issue-State: open" and no later "Issue-State: closed".
-- This holds even with --force: the remove exits 3 and nothing is touched.
gt.hooks.on("pre_remove", function(ctx)
  if not ctx.branch then return end
  local repo <close> = assert(gt.git.open(ctx.rig_root .. "/.repo.git"))
  if not repo:branch_lookup(ctx.branch) then return end
  -- Newest first: the latest Issue-State trailer wins.
  for _, c in ipairs(assert(repo:log(ctx.branch, 200))) do
    local state = c.message:match("\nIssue%-State:%s*(%a+)")
    if state == "closed" then return end
    if state == "open" then
      error(("%s's issue %s is still open (commit %s says so); close it first"):format(ctx.name,
        ctx.issue or "?", c.oid:sub(1, 10)))
    end
  end
end)
