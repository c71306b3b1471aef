-- Installs a new polecat's dependencies right after it is spawned, before anyone works in it.
--
-- Put this in ~/.config/gt/init.lua, <town>/.gt/init.lua or <rig>/.gt/init.lua (or
-- `dofile` it from there). It runs inside the new worktree; a failed install rolls the spawn
-- back, so a polecat never starts on a half-installed tree.
local installers = {
  -- lock file found in the worktree -> command that installs exactly what it pins
  { "package-lock.json", { "npm", "ci", "--no-audit", "--no-fund" } },
  { "yarn.lock", { "yarn", "install", "--frozen-lockfile" } },
  { "Gemfile.lock", { "bundle", "install" } },
  { "poetry.lock", { "poetry", "install", "--no-interaction" } },
}

gt.hooks.on("post_spawn", function(ctx)
  for _, entry in ipairs(installers) do
    local lock_file, argv = entry[1], entry[2]
    if gt.fs.stat(ctx.path .. "/" .. lock_file) then
      io.stderr:write(("gt: %s: %s\n"):format(ctx.name, table.concat(argv, " ")))
      local r, err = gt.proc.run({
        argv = argv,
        cwd = ctx.path,
        timeout_ms = 10 * 60 * 1000,
        stdout = function(chunk) io.stderr:write(chunk) end, -- stream: installs are slow
      })
      if not r then error(argv[1] .. " could not start: " .. err) end
      if r.timed_out then error(argv[1] .. " took more than 10 minutes") end
      if not r.ok then error(("%s failed (exit %s): %s"):format(argv[1], tostring(r.code), r.stderr)) end
      return
    end
  end
end)
