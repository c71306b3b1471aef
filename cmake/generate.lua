-- Build step (CMakeLists.txt, target gt_generated): writes what `cmake --install` installs
-- besides the binary, made by the just-built gt from its own command table:
--
--   gt -l cmake/generate.lua OUTDIR
--
--   OUTDIR/gt.1                    the manual page (gt.manpage)
--   OUTDIR/completions/gt.bash     `gt --clean completion bash`
--   OUTDIR/completions/_gt         `gt --clean completion zsh`
--   OUTDIR/completions/gt.fish     `gt --clean completion fish`
--
-- No user code gets in: `gt -l` runs no init file and loads no module override, the
-- completions come from `gt --clean`, and CMake runs this with a private HOME and XDG folders
-- and without GT_RUNTIME (the built-in Lua, not a folder of the developer's).
local outdir = arg[1]
if not outdir then error("usage: gt -l cmake/generate.lua OUTDIR", 0) end

--- Writes `data` to `path` through a temporary file: a build stopped half-way leaves no
--- truncated file that make would take for up to date.
local function write(path, data)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  assert(f:write(data))
  assert(f:close())
  assert(os.rename(tmp, path))
end

assert(gt.fs.mkdir_p(outdir .. "/completions"))
for shell, file in pairs({ bash = "gt.bash", zsh = "_gt", fish = "gt.fish" }) do
  local r = assert(gt.proc.run({ argv = { gt.executable, "--clean", "completion", shell } }))
  if r.code ~= 0 or r.stdout == "" then
    error(("gt --clean completion %s failed (%s): %s"):format(shell, tostring(r.code), r.stderr), 0)
  end
  write(outdir .. "/completions/" .. file, r.stdout)
end
write(outdir .. "/gt.1", require("gt.manpage").render())
