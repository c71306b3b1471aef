-- Copies files git does not carry (.env and other local settings) into every new polecat,
-- from the rig's template folder <rig>/.gt/template. Files are shared with reflinks where the
-- file system has them; a file the project already has is left alone.
gt.hooks.on("post_spawn", function(ctx)
  local template = ctx.rig_root .. "/.gt/template"
  if not gt.fs.stat(template) then return end
  local copied = gt.files.copy_into(ctx.path, { from = template })
  for _, c in ipairs(copied) do
    io.stderr:write(("gt: %s: copied %s (%s)\n"):format(ctx.name, c.path, c.how))
  end
end)
