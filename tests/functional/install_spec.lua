-- Installing gt (README "Install"): `cmake --install` of the build under test into a prefix
-- and into a DESTDIR, and its Debian package (cpack -G DEB) unpacked into a scratch root. Each
-- installed gt runs outside the source tree (its Lua is compiled in) through a whole polecat
-- lifecycle, and comes with its completions and manual page, which the build made from gt's
-- command table with no user code. Also cmake/commit.cmake, which gives gt --version its commit.
local helpers = require("helpers")
local fs = require("gt.fs")
local proc = require("gt.proc")

local ROOT = fs.realpath(debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") .. "/../..")
-- The build folder of the binary under test (build/gt: build/), when it is one.
local BUILD = gt.executable:match("^(.*)/[^/]*$")
local IS_BUILD = helpers.exists(BUILD .. "/CMakeCache.txt") and helpers.exists(BUILD .. "/gt.1")

-- Where each installed file goes, under the prefix. zsh's completion goes where Debian's zsh
-- looks: vendor-completions under /usr (a package), site-functions under another prefix.
local FILES = {
  bin = "bin/gt",
  man = "share/man/man1/gt.1",
  bash = "share/bash-completion/completions/gt",
  fish = "share/fish/vendor_completions.d/gt.fish",
}
local ZSH_USR, ZSH_LOCAL = "share/zsh/vendor-completions/_gt", "share/zsh/site-functions/_gt"
local DOCS = { "share/doc/gt/README.md", "share/doc/gt/docs/design.md", "share/doc/gt/docs/hooks.md",
  "share/doc/gt/examples/install-deps.lua", "share/doc/gt/LICENSE", "share/doc/gt/copyright" }

--- Runs `argv`; fails the test unless it exits 0. Returns its stdout.
local function ok(argv, opts)
  local r = helpers.run(argv, opts)
  if r.code ~= 0 then
    error(("%s failed (%s): %s%s"):format(table.concat(argv, " "), tostring(r.code), r.stdout,
      r.stderr), 2)
  end
  return r.stdout
end

--- Runs the installed gt `bin` from outside the source tree, with no GT_RUNTIME.
local function installed_gt(bin, args, cwd)
  local argv = { bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return helpers.run(argv, { cwd = cwd, env = { GT_RUNTIME = false } })
end

--- The smoke test of an installed gt: its version, help, and a polecat added, listed and
--- removed in a town of a temporary repository.
local function smoke(bin)
  local dir = helpers.tmpdir("smoke")
  local function run(args)
    local r = installed_gt(bin, args, dir)
    assert.equal(0, r.code, table.concat(args, " ") .. ": " .. r.stderr)
    return r.stdout
  end
  local _, version = helpers.gt({ "--version" })
  assert.equal(version, run({ "--version" }))
  assert.matches("\n   polecat%s", run({ "help" }))
  local o = helpers.origin(dir)
  local town = dir .. "/town"
  run({ "init", town })
  run({ "--town", town, "rig", "add", "demo", o.origin })
  local rig = { "--town", town, "--rig", "demo" }
  local function in_rig(...)
    local args = { table.unpack(rig) }
    for _, a in ipairs({ ... }) do args[#args + 1] = a end
    return run(args)
  end
  in_rig("polecat", "add", "ace")
  assert.equal("hello\nworld\n", helpers.read(town .. "/demo/polecats/ace/demo/a.txt"))
  assert.matches('"ace"', in_rig("polecat", "list", "--json"))
  in_rig("polecat", "remove", "ace", "--wait")
  assert.equal("[]\n", in_rig("polecat", "list", "--json"))
  assert.is_false(helpers.exists(town .. "/demo/polecats/ace"))
end

--- Checks the files installed under `prefix` (a folder), zsh's completion at `zsh`: the
--- binary, the completions (what the installed gt prints, and bash takes its script), the
--- manual page (the build's, which man finds) and the docs.
local function check_files(prefix, zsh)
  for _, rel in pairs(FILES) do
    assert.is_true(helpers.exists(prefix .. "/" .. rel), rel)
  end
  local other = zsh == ZSH_USR and ZSH_LOCAL or ZSH_USR
  assert.is_false(helpers.exists(prefix .. "/" .. other), other)
  for _, rel in ipairs(DOCS) do
    assert.is_true(helpers.exists(prefix .. "/" .. rel), rel)
  end
  local bin = prefix .. "/" .. FILES.bin
  for shell, rel in pairs({ bash = FILES.bash, zsh = zsh, fish = FILES.fish }) do
    local r = installed_gt(bin, { "completion", shell })
    assert.equal(0, r.code, r.stderr)
    assert.equal(r.stdout, helpers.read(prefix .. "/" .. rel), rel)
  end
  assert.matches("^complete .* gt\n$",
    ok({ "bash", "-c", ('source "%s" && complete -p gt'):format(prefix .. "/" .. FILES.bash) }))
  assert.equal(helpers.read(BUILD .. "/gt.1"), helpers.read(prefix .. "/" .. FILES.man))
  if proc.which("man") then
    -- `man gt` with the prefix's manual pages on its path: the page gt installed.
    assert.equal(prefix .. "/" .. FILES.man .. "\n",
      ok({ "man", "-w", "gt" }, { env = { MANPATH = prefix .. "/share/man" } }))
  end
end

describe("installing gt", function()
  before_each(function()
    if not IS_BUILD then pending("the binary under test is not in a CMake build folder") end
  end)

  it("cmake --install honours the prefix", function()
    if not IS_BUILD then return end
    local prefix = helpers.tmpdir("prefix") .. "/usr/local"
    ok({ "cmake", "--install", BUILD, "--prefix", prefix })
    check_files(prefix, ZSH_LOCAL)
    smoke(prefix .. "/bin/gt")
  end)

  it("cmake --install honours DESTDIR", function()
    if not IS_BUILD then return end
    local root = helpers.tmpdir("destdir")
    ok({ "cmake", "--install", BUILD, "--prefix", "/usr" }, { env = { DESTDIR = root } })
    check_files(root .. "/usr", ZSH_USR)
  end)

  -- What `apt install ./gt_*.deb` installs, unpacked into a scratch root (dpkg -x), and what it
  -- depends on: libgit2's package (loaded with dlopen, so only named by hand), and the linked
  -- libraries' packages found by dpkg-shlibdeps, each one installed here.
  it("cpack -G DEB makes a .deb that depends on what gt needs", function()
    if not IS_BUILD then return end
    if not (proc.which("cpack") and proc.which("dpkg-deb") and proc.which("dpkg-shlibdeps")) then
      return pending("needs cpack, dpkg-deb and dpkg-shlibdeps (dpkg-dev)")
    end
    local out = helpers.tmpdir("deb")
    ok({ "cpack", "-G", "DEB", "-B", out, "--config", BUILD .. "/CPackConfig.cmake" })
    local deb
    for _, n in ipairs(assert(fs.dir(out))) do
      if n:match("^gt_.*%.deb$") then deb = out .. "/" .. n end
    end
    assert.truthy(deb, "no gt_*.deb in " .. out)
    local arch = ok({ "dpkg", "--print-architecture" }):gsub("\n$", "")
    assert.equal(("gt_%s_%s.deb"):format(gt.version, arch), deb:match("[^/]*$"))
    assert.equal("gt\n", ok({ "dpkg-deb", "-f", deb, "Package" }))
    local depends = ok({ "dpkg-deb", "-f", deb, "Depends" })
    local lazy = helpers.read(BUILD .. "/CMakeCache.txt"):match("\nGT_LAZY_LIBGIT2:BOOL=(%u+)")
    if lazy == "ON" then -- libgit2-1.5 (>= 1.5.1) on Debian 12
      local built = require("gt.git").LIBGIT2_BUILT:gsub("%p", "%%%0")
      assert.matches("%f[%w]libgit2%-%d+%.%d+ %(>= " .. built .. "%)", depends)
    end
    for _, lib in ipairs({ "libc6", "liblua5%.4%-0", "libsqlite3%-0" }) do
      assert.matches("%f[%w]" .. lib .. " ", depends)
    end
    for name in depends:gmatch("([%w.+-]+)[^,]*") do
      local status = ok({ "dpkg-query", "-W", "-f", "${Status}", name })
      assert.equal("install ok installed", status, name)
    end
    local contents = ok({ "dpkg-deb", "-c", deb })
    for _, rel in ipairs({ FILES.bin, FILES.man, FILES.bash, FILES.fish, ZSH_USR }) do
      assert.matches(" %./usr/" .. rel:gsub("%p", "%%%0") .. "\n", contents)
    end
    local root = helpers.tmpdir("debroot")
    ok({ "dpkg", "-x", deb, root })
    check_files(root .. "/usr", ZSH_USR)
    smoke(root .. "/usr/bin/gt")
  end)
end)

describe("gt.1", function()
  before_each(function()
    if not IS_BUILD then pending("the binary under test is not in a CMake build folder") end
  end)

  it("has every built-in command, with the usage gt help prints", function()
    if not IS_BUILD then return end
    local page = helpers.read(BUILD .. "/gt.1")
    local names = helpers.in_child([[
      local list = {}
      for _, spec in ipairs(require("gt.commands").all()) do list[#list + 1] = spec.name end
      return list
    ]])
    assert.is_true(#names > 20)
    local function roff(s) return (s:gsub("%-", "\\-")) end
    for _, name in ipairs(names) do
      local words = { "help" }
      for w in name:gmatch("%S+") do words[#words + 1] = w end
      local help = ok({ gt.executable, "--clean", table.unpack(words) })
      local usage = help:match("^Usage: (.-)\n\n"):gsub("%s+", " ")
      assert.truthy(page:find(('\n.SS "gt %s"\n\\fB%s\\fR\n'):format(roff(name), roff(usage)), 1, true),
        name)
    end
    for _, section in ipairs({ "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS",
      "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO" }) do
      assert.truthy(page:find("\n.SH " .. section .. "\n", 1, true), section)
    end
    assert.matches('\n%.TH GT 1 "" "gt ' .. gt.version:gsub("%p", "%%%0") .. '"', page)
  end)

  it("formats with man without warnings", function()
    if not IS_BUILD then return end
    if not proc.which("man") then return pending("needs man (man-db)") end
    local r = helpers.run({ "man", "--warnings", "-l", BUILD .. "/gt.1" },
      { env = { MANWIDTH = "100", MAN_KEEP_FORMATTING = false } })
    assert.equal(0, r.code, r.stderr)
    assert.equal("", r.stderr)
    assert.matches("\nNAME\n +gt %- manage polecats", r.stdout)
    assert.matches("\n +gt polecat add\n", r.stdout) -- its subsection
    assert.matches("\n +%-n, %-%-dry%-run\n", r.stdout)
    assert.matches("\nEXIT STATUS\n", r.stdout)
  end)

  -- cmake/generate.lua as the build runs it, with a user init file that registers a command
  -- and overrides a module: none of it gets into the page or the completions.
  it("is made without user code", function()
    if not IS_BUILD then return end
    local dir = helpers.tmpdir("gen")
    helpers.write(dir .. "/config/gt/init.lua", [[
      gt.commands.register({ name = "zzuser", summary = "A user's command.", run = function() end })
    ]])
    ok({ gt.executable, "-l", ROOT .. "/cmake/generate.lua", dir .. "/out" },
      { env = { XDG_CONFIG_HOME = dir .. "/config" } })
    local r = helpers.run({ gt.executable, "help" }, { env = { XDG_CONFIG_HOME = dir .. "/config" } })
    assert.matches("zzuser", r.stdout) -- the init file works for gt itself
    for _, rel in ipairs({ "gt.1", "completions/gt.bash", "completions/_gt", "completions/gt.fish" }) do
      local data = helpers.read(dir .. "/out/" .. rel)
      assert.truthy(data and #data > 1000, rel)
      assert.is_nil(data:find("zzuser", 1, true), rel)
      assert.equal(helpers.read(BUILD .. "/" .. rel), data, rel)
    end
  end)
end)

-- cmake/commit.cmake on a repository of its own: what gt --version says it was built from.
describe("cmake/commit.cmake", function()
  local function commit_of(source, out, given)
    local argv = { "cmake", "-DOUT=" .. out, "-DSOURCE_DIR=" .. source, "-DGIT=git" }
    if given then argv[#argv + 1] = "-DCOMMIT=" .. given end
    argv[#argv + 1] = "-P"
    argv[#argv + 1] = ROOT .. "/cmake/commit.cmake"
    ok(argv)
    return helpers.read(out):match('gt_commit%[%] = "([^"]*)";')
  end

  it("writes the short hash, -dirty with edits, and rewrites only a changed one", function()
    if not proc.which("cmake") then return pending("needs cmake") end
    local dir = helpers.tmpdir("commit")
    local o = helpers.origin(dir)
    local out = dir .. "/gt_commit.c"
    local head = helpers.git(o.work, "rev-parse", "HEAD")
    local c = commit_of(o.work, out)
    assert.equal(head:sub(1, #c), c)
    assert.is_true(#c >= 7)
    local before = fs.stat(out)
    assert.equal(c, commit_of(o.work, out))
    local after = fs.stat(out)
    assert.equal(before.mtime_ms, after.mtime_ms) -- not rewritten: nothing to rebuild
    helpers.write(o.work .. "/a.txt", "edited\n")
    assert.equal(c .. "-dirty", commit_of(o.work, out))
    helpers.git(o.work, "commit", "-q", "-am", "third")
    local new = helpers.git(o.work, "rev-parse", "HEAD")
    c = commit_of(o.work, out)
    assert.equal(new:sub(1, #c), c)
    assert.equal("v9", commit_of(o.work, out, "v9"))
  end)

  it("says unknown outside a checkout, or in a folder of another repository", function()
    if not proc.which("cmake") then return pending("needs cmake") end
    local dir = helpers.tmpdir("commit")
    assert.equal("unknown", commit_of(dir, dir .. "/gt_commit.c"))
    local o = helpers.origin()
    assert(fs.mkdir_p(o.work .. "/unpacked"))
    assert.equal("unknown", commit_of(o.work .. "/unpacked", dir .. "/gt_commit.c"))
  end)
end)
