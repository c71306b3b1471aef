-- Shell integration (gt.shell): gt polecat path, gt polecat cd and add --cd with and without the
-- function of gt shell-init, run by bash, and by zsh and fish when they are installed, against a
-- real town whose path holds a space and quotes.
local helpers = require("helpers")
local proc = require("gt.proc")
local fs = require("gt.fs")
local _ -- discarded results

local HINT_BASH = 'gt: to change directory, add eval "$(gt shell-init bash)" to ~/.bashrc\n'

describe("shell integration", function()
  local dir, town, bin, tmp

  lazy_setup(function()
    dir = helpers.tmpdir("shell")
    local o = helpers.origin(dir)
    town = dir .. "/my town's \"place\""
    assert.equal(0, (helpers.gt({ "init", town })))
    assert.equal(0, (helpers.gt({ "--town", town, "rig", "add", "demo", o.origin })))
    for _, name in ipairs({ "ace", "bee" }) do
      local code, _, err = helpers.gt({ "--town", town, "--rig", "demo", "polecat", "add", name })
      assert.equal(0, code, err)
    end
    -- The gt under test first on PATH, as `gt`: the function runs `command gt`.
    bin = dir .. "/bin"
    assert(fs.mkdir_p(bin))
    assert.equal(0, helpers.run({ "ln", "-s", gt.executable, bin .. "/gt" }).code)
    tmp = dir .. "/tmp"
    assert(fs.mkdir_p(tmp))
  end)

  local function worktree(name) return town .. "/demo/polecats/" .. name .. "/demo" end

  local function gt_(args, opts)
    local full = { "--town", town, "--rig", "demo" }
    for _, a in ipairs(args) do full[#full + 1] = a end
    return helpers.gt(full, opts)
  end

  describe("gt polecat path", function()
    it("prints the worktree's path and nothing else", function()
      local code, out, err = gt_({ "polecat", "path", "ace" })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.equal(worktree("ace") .. "\n", out)
      code, out = gt_({ "polecat", "path", "ace", "--json" })
      assert.equal(0, code)
      assert.same({ name = "ace", rig = "demo", path = worktree("ace") }, require("gt.json").decode(out))
    end)

    it("refuses an unknown polecat with exit 4, and a bad name with exit 2", function()
      local code, out, err = gt_({ "polecat", "path", "nosuch" })
      assert.equal(4, code)
      assert.equal("", out)
      assert.equal("gt: polecat path: no polecat nosuch in rig demo\n", err)
      code, out = gt_({ "polecat", "path", "../x" })
      assert.equal(2, code)
      assert.equal("", out)
    end)
  end)

  describe("without the shell function", function()
    it("gt polecat cd prints the path, and on stderr how to load the function", function()
      local code, out, err = gt_({ "polecat", "cd", "bee" }, { env = { SHELL = "/bin/bash" } })
      assert.equal(0, code, err)
      assert.equal(worktree("bee") .. "\n", out)
      assert.equal(HINT_BASH, err)
      _, _, err = gt_({ "polecat", "cd", "bee" }, { env = { SHELL = "/usr/bin/zsh" } })
      assert.equal('gt: to change directory, add eval "$(gt shell-init zsh)" to ~/.zshrc\n', err)
      _, _, err = gt_({ "polecat", "cd", "bee" }, { env = { SHELL = "/usr/local/bin/fish" } })
      assert.equal("gt: to change directory, add gt shell-init fish | source to ~/.config/fish/config.fish\n", err)
      code, out, err = gt_({ "polecat", "cd", "nosuch" })
      assert.equal(4, code)
      assert.equal("", out)
      assert.equal("gt: polecat cd: no polecat nosuch in rig demo\n", err)
    end)

    it("gt polecat add --cd says what it did, then the hint", function()
      local code, out, err = gt_({ "polecat", "add", "cee", "--cd" }, { env = { SHELL = false } })
      assert.equal(0, code, err)
      assert.matches("^polecat cee spawned in rig demo\n", out)
      assert.equal(HINT_BASH, err)
    end)
  end)

  describe("gt shell-init", function()
    it("prints a function for bash, zsh and fish, and refuses other shells", function()
      for _, shell in ipairs({ "bash", "zsh", "fish" }) do
        local code, out, err = helpers.gt({ "shell-init", shell })
        assert.equal(0, code, err)
        assert.equal("", err)
        assert.matches(shell == "fish" and "\nfunction gt " or "\ngt%(%) {\n", out)
        assert.truthy(out:find("command gt", 1, true))
      end
      local code, out, err = helpers.gt({ "shell-init", "tcsh" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal("gt: argument 'shell' must be one of 'bash', 'zsh', 'fish' (see gt help)\n", err)
    end)
  end)

  -- What each shell runs: the function loaded, then cd to a polecat, a failing cd (the directory
  -- and exit status 4 kept), stdout through the function, add --cd.
  local SCRIPTS = {
    bash = 'eval "$(gt shell-init bash)" || exit 9\n',
    zsh = 'eval "$(gt shell-init zsh)" || exit 9\n',
    fish = "gt shell-init fish | source; or exit 9\n",
  }
  local POSIX_BODY = [[
cd /
gt --town "$T" --rig demo polecat cd ace; echo "status $?"; pwd
gt --town "$T" --rig demo polecat cd nosuch; echo "status $?"; pwd
echo "[$(gt --town "$T" --rig demo polecat path bee)]"
gt --town "$T" --rig demo polecat list | head -n 1
gt --town "$T" --rig demo polecat add "$NEW" --cd >/dev/null; echo "status $?"; pwd
]]
  local FISH_BODY = [[
cd /
gt --town $T --rig demo polecat cd ace; echo "status $status"; pwd
gt --town $T --rig demo polecat cd nosuch; echo "status $status"; pwd
echo "["(gt --town $T --rig demo polecat path bee)"]"
gt --town $T --rig demo polecat list | head -n 1
gt --town $T --rig demo polecat add $NEW --cd >/dev/null; echo "status $status"; pwd
]]
  local CHECK = { bash = { "bash", "-n" }, zsh = { "zsh", "-n" }, fish = { "fish", "--no-execute" } }

  for _, shell in ipairs({ "bash", "zsh", "fish" }) do
    it("with " .. shell .. ": the function changes the shell's directory, passing output and status through", function()
      if not proc.which(shell) then
        pending(shell .. " is not installed")
        return
      end
      local _, script = helpers.gt({ "shell-init", shell })
      helpers.write(dir .. "/init." .. shell, script)
      local argv = { table.unpack(CHECK[shell]) }
      argv[#argv + 1] = dir .. "/init." .. shell
      local check = helpers.run(argv)
      assert.equal(0, check.code, check.stderr)

      local new = shell .. "1"
      local body = SCRIPTS[shell] .. (shell == "fish" and FISH_BODY or POSIX_BODY)
      local header = helpers.lines(select(2, gt_({ "polecat", "list" })))[1] -- before the add
      local r = helpers.run({ shell, "-c", body }, { env = { PATH = bin .. ":" .. os.getenv("PATH"),
        T = town, NEW = new, TMPDIR = tmp, SHELL = false } })
      assert.equal(0, r.code, r.stderr)
      assert.same({
        "status 0", worktree("ace"),
        "status 4", worktree("ace"),
        "[" .. worktree("bee") .. "]",
        header,
        "status 0", worktree(new),
      }, helpers.lines(r.stdout))
      assert.equal("gt: polecat cd: no polecat nosuch in rig demo\n", r.stderr)
      assert.same({}, fs.dir(tmp)) -- the function's temporary files are gone
    end)
  end
end)
