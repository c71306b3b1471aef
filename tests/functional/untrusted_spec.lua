-- Code that is not the user's does not run (issue 7, "Untrusted code runs"): a cloned repository
-- that commits .gt/town.lua and .gt/init.lua is not a town whose code runs; a trusted file is
-- read once, so that a file swapped after its hash was checked runs nothing; a hook file that is
-- a device, a FIFO or a folder is reported and skipped, and nothing hangs on it.
local helpers = require("helpers")
local witness = require("witness")
local _ -- discarded results (code, _, err = ...)
local user_code = require("user_code")
local git = helpers.git

--- Asserts that `s` holds `part`, as it is.
local function holds(s, part)
  assert(s:find(part, 1, true), ("%q does not hold %q"):format(s, part))
end

describe("a repository that commits a town's files", function()
  local dir, clone, env
  before_each(function()
    dir = helpers.tmpdir("evil")
    local src = dir .. "/src"
    helpers.write(src .. "/.gt/town.lua", "return {}\n")
    helpers.write(src .. "/.gt/init.lua", ("io.open(%q, 'w'):close()\n"):format(dir .. "/PWNED-init"))
    helpers.write(src .. "/.gt/lua/gt/commands/polecat.lua",
      ("io.open(%q, 'w'):close()\nreturn {}\n"):format(dir .. "/PWNED-override"))
    git(dir, "init", "-q", "-b", "main", src)
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "a town in a repository")
    clone = dir .. "/clone"
    git(dir, "clone", "-q", src, clone)
    env = { XDG_STATE_HOME = dir .. "/state", XDG_CONFIG_HOME = dir .. "/config" }
  end)

  it("runs none of its code when gt runs in a clone of it, even gt --version", function()
    for _, args in ipairs({ { "--version" }, { "polecat", "list" }, { "hooks", "list" }, { "doctor" } }) do
      local _, _, err = helpers.gt(args, { cwd = clone, env = env })
      holds(err, clone .. "/.gt/init.lua was not run: " .. clone ..
        " is not a town or rig you made here (gt init, gt rig add); if it is yours: gt trust " .. clone)
      assert.is_false(helpers.exists(dir .. "/PWNED-init"))
      assert.is_false(helpers.exists(dir .. "/PWNED-override"))
    end
  end)

  it("nor through --town, GT_TOWN, or gt init, which finds the town there and does not adopt it", function()
    local code, out, err = helpers.gt({ "init", clone }, { env = env })
    assert.equal(0, code, err)
    assert.equal("town already exists at " .. clone .. "\n", out)
    holds(err, "it was not made here by you, so its init files and module overrides do not run; " ..
      "if it is yours: gt trust " .. clone)
    helpers.gt({ "--town", clone, "hooks", "list" }, { env = env })
    helpers.gt({ "hooks", "list" }, { env = { XDG_STATE_HOME = env.XDG_STATE_HOME, GT_TOWN = clone } })
    assert.is_false(helpers.exists(dir .. "/PWNED-init"))
    assert.is_false(helpers.exists(dir .. "/PWNED-override"))
  end)

  it("runs its code once the user trusts the folder as theirs, and not after trust is withdrawn", function()
    local code, out, err = helpers.gt({ "trust", clone }, { env = env })
    assert.equal(0, code, err)
    assert.equal("trusted " .. clone .. " as yours: its init files and module overrides run\n", out)
    helpers.gt({ "hooks", "list" }, { cwd = clone, env = env })
    assert.is_true(helpers.exists(dir .. "/PWNED-init"))
    os.remove(dir .. "/PWNED-init")
    assert.equal(0, (helpers.gt({ "trust", "--revoke", clone }, { env = env })))
    helpers.gt({ "hooks", "list" }, { cwd = clone, env = env })
    assert.is_false(helpers.exists(dir .. "/PWNED-init"))
  end)

end)

describe("a town that is not recorded as the user's", function()
  it("does not run its init file, and commands that run hooks refuse (exit 1) until it is trusted", function()
    local fx = helpers.fixture()
    assert.equal(0, (helpers.gt({ "trust", "--revoke", fx.town })))
    helpers.write(fx.town .. "/.gt/init.lua", "gt.hooks.on('pre_spawn', function() error('guard') end)\n")
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(1, code)
    holds(err, "gt: polecat add: refusing to run without the hooks of an init file that did not load: " ..
      fx.town .. "/.gt/init.lua was not run")
    assert.is_nil(witness.agent(fx, "a"))
    code = helpers.gt_rig(fx, { "polecat", "list" }) -- read-only: goes on
    assert.equal(0, code)
    assert.equal(0, (helpers.gt({ "trust", fx.town })))
    code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(1, code)
    holds(err, "pre_spawn hook (" .. fx.town .. "/.gt/init.lua:1): guard")
  end)
end)

describe("a folder put in a town by hand", function()
  it("is not a rig whose code runs, though the town is the user's", function()
    local fx = helpers.fixture()
    local dir = fx.town .. "/intruder"
    helpers.write(dir .. "/.gt/rig.lua", "return { default_branch = 'main' }\n")
    helpers.write(dir .. "/.gt/init.lua", ("io.open(%q, 'w'):close()\n"):format(fx.dir .. "/PWNED"))
    local _, _, err = helpers.gt({ "hooks", "list" }, { cwd = dir })
    holds(err, dir .. "/.gt/init.lua was not run")
    assert.is_false(helpers.exists(fx.dir .. "/PWNED"))
    -- A rig gt made is the user's own.
    helpers.write(fx.rig .. "/.gt/init.lua", ("io.open(%q, 'w'):close()\n"):format(fx.dir .. "/OURS"))
    helpers.gt({ "hooks", "list" }, { cwd = fx.rig })
    assert.is_true(helpers.exists(fx.dir .. "/OURS"))
  end)
end)

describe("a trusted hook file", function()
  it("is read once: what was hashed is what runs", function()
    -- Counts the reads of the file through gt's own runtime, in-process: trust.check hands the
    -- bytes it hashed to the loader.
    local fs = require("gt.fs")
    local trust = require("gt.trust")
    local dir = helpers.tmpdir("once")
    local path = dir .. "/polecats/a/demo/.gt/hooks.lua"
    helpers.write(path, "ran = (ran or 0) + 1\n")
    local state = os.getenv("XDG_STATE_HOME")
    assert.is_truthy(state)
    local real_read = fs.read_file
    local reads = 0
    fs.read_file = function(p, ...)
      if p == path then reads = reads + 1 end
      return real_read(p, ...)
    end
    local ok, err = pcall(function()
      trust.add(path)
      reads = 0
      assert.equal("trusted", require("gt.usercode").load_repo_hooks(dir .. "/polecats/a/demo", "demo/a"))
    end)
    fs.read_file = real_read
    assert(ok, err)
    assert.equal(1, reads)
    assert(trust.revoke(path))
  end)

  it("swapped for other content after it was trusted is not run", function()
    local fx = user_code.fixture({ fetch_always = true })
    helpers.push_commit(fx, ".gt/hooks.lua", "gt.hooks.on('post_remove', function() print('trusted hook') end)\n")
    assert.equal(0, (user_code.gt(fx, { "polecat", "add", "a" })))
    local file = fx.rig .. "/polecats/a/demo/.gt/hooks.lua"
    assert.equal(0, (user_code.gt(fx, { "trust", file })))
    helpers.write(file, "gt.hooks.on('post_remove', function() print('swapped in') end)\n")
    git(fx.rig .. "/polecats/a/demo", "update-index", "--assume-unchanged", ".gt/hooks.lua")
    local code, out, err = user_code.gt(fx, { "polecat", "remove", "--force", "a" })
    assert.equal(0, code, err)
    assert.not_matches("swapped in", out)
    assert.matches("hooks.lua is changed since it was trusted, so it was not run", err)
  end)
end)

describe("a hook file that is not a regular file", function()
  local fx, wt
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    wt = fx.rig .. "/polecats/a/demo"
    require("gt.fs").mkdir_p(wt .. "/.gt")
  end)

  it("(a link to /dev/zero) is skipped: nothing hangs, remove and doctor say why", function()
    assert.is_true(helpers.run({ "ln", "-s", "/dev/zero", wt .. "/.gt/hooks.lua" }).ok)
    local code, out, err = helpers.gt_rig(fx, { "doctor" }, { timeout_ms = 20000 })
    assert.equal(1, code, err)
    assert.equal("problem demo/a: " .. wt .. "/.gt/hooks.lua cannot be used: /dev/zero: not a regular " ..
      "file (other)\n", out)
    code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "--force", "a" }, { timeout_ms = 20000 })
    assert.equal(0, code, err)
    assert.matches("^gt: warning: " .. wt:gsub("%p", "%%%0") .. "/%.gt/hooks%.lua was not run: /dev/zero: " ..
      "not a regular file %(other%)\n", err)
    assert.same({}, witness.disagreements(fx))
  end)

  it("(a folder) is skipped: remove and doctor go on", function()
    require("gt.fs").mkdir_p(wt .. "/.gt/hooks.lua")
    local code, out, err = helpers.gt_rig(fx, { "doctor" })
    assert.equal(1, code, err)
    assert.matches("hooks%.lua cannot be used: .*not a regular file %(directory%)\n$", out)
    code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
  end)

  it("(a FIFO) does not hang a spawn that finds it trusted", function()
    assert.is_true(helpers.run({ "mkfifo", wt .. "/.gt/hooks.lua" }).ok)
    local r = helpers.run({ gt.executable, "-l", "/dev/stdin" }, { stdin = ([[
      local status, err = require("gt.trust").check(%q)
      print(status, err)
    ]]):format(wt .. "/.gt/hooks.lua"), timeout_ms = 20000 })
    assert.equal(0, r.code, r.stderr)
    assert.equal("nil\t" .. wt .. "/.gt/hooks.lua: not a regular file (other)\n", r.stdout)
  end)
end)

describe("a C loop that could run long", function()
  it("stops when gt is interrupted (hashing /dev/zero ends at Ctrl-C)", function()
    local script = helpers.tmpdir("zero") .. "/hash.lua"
    helpers.write(script, "print(require('gt.hash').sha256_file('/dev/zero'))\n")
    local r = helpers.run({ "sh", "-c", ("%q -l %q & pid=$!; sleep 0.5; kill -INT $pid; wait $pid; echo exit=$?")
      :format(gt.executable, script) }, { timeout_ms = 20000 })
    assert.equal("130", r.stdout:match("exit=(%d+)"), r.stderr)
  end)
end)
