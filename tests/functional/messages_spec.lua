-- The right exit status and a message that says what failed and what to do (issue 7, "Wrong
-- status or message"): a busy ledger, doctor next to a running command or a broken rig, a
-- missing locks folder, an empty --town, a full disk, a repository another user owns.
local helpers = require("helpers")
local witness = require("witness")

local function holds(s, part)
  assert(s:find(part, 1, true), ("%q does not hold %q"):format(s, part))
end

local function is_root()
  return helpers.run({ "id", "-u" }).stdout == "0\n"
end

describe("a ledger another process holds", function()
  it("makes a command exit 5, saying which process holds it, once the lock timeout has passed", function()
    local fx = helpers.fixture()
    local script = helpers.tmpdir("hold") .. "/hold.lua"
    helpers.write(script, ([[
      local db = assert(require("gt.ledger").open(%q))
      assert(db:exec("BEGIN IMMEDIATE"))
      assert(db:exec("UPDATE rigs SET fetched_at = 0"))
      io.stdout:write("holding\n") io.stdout:flush()
      require("gt.sys").sleep_ms(4000)
    ]]):format(fx.town .. "/.gt/ledger.db"))
    local r = helpers.run({ "sh", "-c", ([[
      %q -l %q & holder=$!
      sleep 1
      GT_LOCK_TIMEOUT_MS=300 %q --town %q --rig demo polecat add a; echo "exit=$?"
      echo "holder=$holder"
      wait
    ]]):format(gt.executable, script, gt.executable, fx.town) })
    assert.equal("5", r.stdout:match("exit=(%d+)"), r.stderr)
    local pid = r.stdout:match("holder=(%d+)")
    holds(r.stderr, "gt: polecat add: ledger: " .. fx.town .. "/.gt/ledger.db: database is locked (held by pid " ..
      pid .. ": " .. gt.executable .. " -l " .. script .. "); try again when it is done\n")
    assert.is_nil(witness.agent(fx, "a"))
  end)
end)

describe("gt doctor", function()
  it("checks every rig, even when one cannot be checked", function()
    local fx = helpers.fixture()
    local o = helpers.origin(helpers.tmpdir("second"))
    assert.equal(0, (helpers.gt({ "--town", fx.town, "rig", "add", "web", o.origin })))
    assert.equal(0, (helpers.gt({ "--town", fx.town, "--rig", "web", "polecat", "add", "w" })))
    require("gt.fs").remove_tree(fx.town .. "/web/polecats/w")
    -- The first rig's repository is broken.
    assert(os.rename(fx.rig .. "/.repo.git", fx.rig .. "/repo.git.moved"))
    helpers.write(fx.rig .. "/.repo.git", "not a repository\n")
    local code, out = helpers.gt({ "--town", fx.town, "doctor" })
    assert.equal(1, code)
    assert.matches("^problem rig demo: cannot be checked: ", out)
    holds(out, "\nproblem web/w: its worktree " .. fx.town .. "/web/polecats/w/web is gone " ..
      "(gt polecat remove --force w, or gt doctor --fix, saves its branch's commits and ends it)\n")
  end)
end)

describe("a missing locks folder", function()
  it("is made again (gt's own scratch space), not a 'not found' (exit 4)", function()
    local fx = helpers.fixture()
    require("gt.fs").remove_tree(fx.rig .. "/.gt/locks")
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    assert.is_true(helpers.exists(fx.rig .. "/.gt/locks/polecat-a.lock"))
  end)
end)

describe("an empty --town or --rig", function()
  it("is a usage error (exit 2), not the default town", function()
    local fx = helpers.fixture()
    for _, args in ipairs({ { "--town", "", "polecat", "list" }, { "--town=", "rig", "list" },
      { "--town", fx.town, "--rig", "", "polecat", "list" } }) do
      local code, out, err = helpers.gt(args, { cwd = fx.rig })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^gt: %-%-%a+ needs a %a+, not an empty string\n$", err)
    end
  end)
end)

describe("a full disk", function()
  it("refuses --force (exit 3), saying the disk is full, removing nothing", function()
    local fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    -- The town moves onto a small file system of its own (a mount namespace of this test's).
    local script = ([[
      set -e
      mnt=%q; mkdir -p "$mnt"
      mount -t tmpfs -o size=4m tmpfs "$mnt"
      cp -a %q "$mnt/town"
      head -c 700000 /dev/urandom > "$mnt/town/demo/polecats/a/demo/big.bin"
      avail=$(df -k --output=avail "$mnt" | tail -1)
      dd if=/dev/zero of="$mnt/filler" bs=1k count=$((avail - 300)) 2>/dev/null
      set +e
      %q --town "$mnt/town" --rig demo polecat remove --force a; echo "exit=$?"
      ls "$mnt/town/demo/polecats"
    ]]):format(fx.dir .. "/mnt", fx.town, gt.executable)
    local argv = is_root() and { "unshare", "--mount", "sh", "-c", script }
      or { "unshare", "--map-root-user", "--mount", "sh", "-c", script }
    local r = helpers.run(argv)
    if r.code ~= 0 and r.stderr:find("unshare", 1, true) then
      pending("no mount namespace here: " .. r.stderr)
      return
    end
    assert.equal("3", r.stdout:match("exit=(%d+)"), r.stderr)
    assert.matches("^gt: polecat remove: [^\n]*could not save ", r.stderr)
    assert(r.stderr:find("no space left on the device holding ", 1, true) or
      r.stderr:find("No space left on device", 1, true), r.stderr)
    assert.matches("\na\n$", r.stdout) -- the polecat's folder is where it was
  end)
end)

describe("a repository another user owns", function()
  it("is said so, with the git setting that trusts it, not libgit2's 'safe.directory was not found'", function()
    if not is_root() then
      pending("needs root to give the repository to another user")
      return
    end
    local fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    assert.is_true(helpers.run({ "chown", "-R", "nobody", fx.rig .. "/.repo.git" }).ok)
    local code, _, err = helpers.gt_rig(fx, { "polecat", "status", "a" })
    helpers.run({ "chown", "-R", "root", fx.rig .. "/.repo.git" })
    assert.equal(1, code)
    assert.equal("gt: polecat status: " .. fx.rig .. "/.repo.git: the repository is owned by another user; " ..
      "if you trust it: git config --global --add safe.directory " .. fx.rig .. "/.repo.git\n", err)
  end)
end)
