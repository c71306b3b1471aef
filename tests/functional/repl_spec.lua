-- gt repl: through a pipe (statements from stdin, results on stdout, errors on stderr) and,
-- for line editing, through a pseudo-terminal driven with tmux.
local helpers = require("helpers")
local proc = require("gt.proc")
local sys = require("gt.sys")

local function repl(fx, input, extra_env)
  local r = helpers.run({ gt.executable, "--town", fx.town, "--rig", fx.name, "repl" },
    { stdin = input, env = extra_env })
  return r.code, r.stdout, r.stderr
end

describe("gt repl through a pipe", function()
  local fx
  setup(function()
    fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "clean-one" })))
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "dirty-one" })))
    helpers.write(fx.rig .. "/polecats/dirty-one/demo/notes.txt", "unsaved\n")
  end)

  it("prints the value of an expression, with no prompt or banner", function()
    local code, out, err = repl(fx, "1 + 1\n'a' .. 'b'\n2^10\nnil\n1, 'x', true\n")
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal('2\n"ab"\n1024.0\nnil\n1\t"x"\ttrue\n', out)
  end)

  it("runs statements, keeping globals between them", function()
    local code, out = repl(fx, "x = 20\nx + 22\nlocal y = 1\n")
    assert.equal(0, code)
    assert.equal("42\n", out)
  end)

  it("continues an incomplete statement on the next lines", function()
    local code, out = repl(fx, "function double(a)\n  return a * 2\nend\ndouble(21)\nfor i = 1, 3 do\n  io.write(i, ' ')\nend\n")
    assert.equal(0, code)
    assert.equal("42\n1 2 3 ", out)
  end)

  it("prints an error and goes on, then exits 1", function()
    local code, out, err = repl(fx, "error('boom')\n1 + \n2\nnosuch.field\n'still here'\n")
    assert.equal(1, code)
    assert.equal('3\n"still here"\n', out)
    assert.equal("error: stdin:1: boom\nerror: stdin:1: attempt to index a nil value (global 'nosuch')\n", err)
  end)

  it("reports a statement left incomplete at the end of input", function()
    local code, out, err = repl(fx, "if true then\n")
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("^error: stdin:1: 'end' expected near <eof>\n$", err)
  end)

  it("pretty-prints tables nested and sorted, long lists cut with a count", function()
    local code, out = repl(fx, table.concat({
      "{ b = 1, a = { c = 2 }, 10, 20, [true] = 'y' }",
      "(function() local t = {} for i = 1, 30 do t[i] = i end return t end)()",
      "(function() local t = {} t.self = t return t end)()",
      "{ ['a key'] = 'v', ['end'] = 1 }",
    }, "\n") .. "\n")
    assert.equal(0, code)
    local lines = helpers.lines(out)
    assert.equal('{ 10, 20, a = { c = 2 }, b = 1, [true] = "y" }', lines[1])
    assert.equal("{", lines[2])
    assert.equal("  1,", lines[3])
    assert.equal("  20,", lines[22])
    assert.equal("  ... (10 more, 30 in all)", lines[23])
    assert.equal("}", lines[24])
    assert.equal("{ self = <cycle> }", lines[25])
    assert.equal('{ ["a key"] = "v", ["end"] = 1 }', lines[26])
  end)

  it("binds town, rig and gt, and prints gt objects by their __tostring", function()
    local code, out, err = repl(fx, "rig\nrig.name\ntown.root\ngt.version\nrig:repo()\n#gt.polecat.list(town, rig)\n")
    assert.equal(0, code, err)
    local lines = helpers.lines(out)
    assert.equal("gt.Rig (demo)", lines[1])
    assert.equal('"demo"', lines[2])
    assert.equal(('"%s"'):format(fx.town), lines[3])
    assert.equal(('"%s"'):format(gt.version), lines[4])
    assert.equal(("gt.Repo (%s/.repo.git/)"):format(fx.rig), lines[5])
    assert.equal("2", lines[6])
  end)

  it("lists the helpers with .help", function()
    local code, out = repl(fx, ".help\n")
    assert.equal(0, code)
    for _, h in ipairs({ "polecats%(%)", "events%(name", "status%(name%)", 'run%("polecat list"%)' }) do
      assert.matches("\n  " .. h, out)
    end
    assert.matches("rig      gt.Rig %(demo%)", out)
  end)

  it("shows polecats with their safety state", function()
    local code, out, err = repl(fx, "rows = polecats()\n#rows\nrows[1].safe, rows[2].safe\npolecats()\n")
    assert.equal(0, code, err)
    local lines = helpers.lines(out)
    assert.matches("^NAME%s+STATE%s+SAFETY%s+BRANCH$", lines[1])
    assert.matches("^clean%-one%s+working%s+safe%s+polecat/clean%-one%-", lines[2])
    assert.matches("^dirty%-one%s+working%s+1 untracked file%s+polecat/dirty%-one%-", lines[3])
    assert.equal("2", lines[4])
    assert.equal("true\tfalse", lines[5])
    -- As an expression, the table is shown once; the value prints as a count.
    assert.matches("^NAME", lines[6])
    assert.equal("(2 polecats)", lines[9])
    assert.is_nil(lines[10])
  end)

  it("shows the last events of a polecat", function()
    local code, out = repl(fx, "e = events('clean-one')\n#e\ne[#e].kind\n")
    assert.equal(0, code)
    local lines = helpers.lines(out)
    assert.matches("^AT%s+EVENT%s+DATA$", lines[1])
    assert.matches("^%d+%-%d+%-%d+ %d+:%d+:%d+%s+spawning%s+branch=polecat/clean%-one%-", lines[2])
    assert.matches("%s+spawned%s+", lines[3])
    assert.equal("2", lines[4])
    assert.equal('"spawned"', lines[5])
  end)

  it("runs a gt command and returns its result as a table", function()
    local code, out, err = repl(fx, table.concat({
      "r = run('polecat list')",
      "r.code, r.ok, #r.json, r.json[1].name",
      "s = run('polecat status dirty-one')",
      "s.json.safe, s.json.untracked[1]",
      "bad = run('polecat remove dirty-one')",
      "bad.code, bad.stderr:match('refusing') ~= nil",
    }, "\n") .. "\n")
    assert.equal(0, code, err)
    local lines = helpers.lines(out)
    assert.equal('0\ttrue\t2\t"clean-one"', lines[1])
    assert.equal('false\t"notes.txt"', lines[2])
    assert.equal("3\ttrue", lines[3])
  end)

  it("runs without a rig when none is given", function()
    local r = helpers.run({ gt.executable, "--town", fx.town, "repl" }, { stdin = "rig\ntown ~= nil\n" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("nil\ntrue\n", r.stdout)
  end)
end)

describe("gt repl on a terminal (tmux)", function()
  local fx, dir, tmux, socket
  local function pane()
    return helpers.run({ tmux, "-S", socket, "capture-pane", "-p", "-t", "repl" }).stdout
  end
  local function keys(...)
    helpers.run({ tmux, "-S", socket, "send-keys", "-t", "repl", ... })
  end
  local function literal(text)
    helpers.run({ tmux, "-S", socket, "send-keys", "-t", "repl", "-l", text })
  end
  local function eventually(pattern)
    local deadline = sys.clock_ms() + 5000
    repeat
      if pane():find(pattern) then return true end
      sys.sleep_ms(50)
    until sys.clock_ms() > deadline
    error("the pane never showed " .. pattern .. ":\n" .. pane())
  end
  local function start()
    local env = helpers.env({ XDG_STATE_HOME = dir .. "/state", TERM = "xterm" })
    local cmd = { "env" }
    for k, v in pairs(env) do
      if v then cmd[#cmd + 1] = k .. "=" .. v end
    end
    for _, a in ipairs({ gt.executable, "--town", fx.town, "--rig", fx.name, "repl" }) do cmd[#cmd + 1] = a end
    local r = helpers.run({ tmux, "-S", socket, "new-session", "-d", "-s", "repl", "-x", "120", "-y", "30",
      table.unpack(cmd) })
    assert.equal(0, r.code, r.stderr)
    eventually("gt>")
  end
  local function stop()
    helpers.run({ tmux, "-S", socket, "kill-server" })
  end

  before_each(function()
    tmux = proc.which("tmux")
    if not tmux then return end
    fx = fx or helpers.fixture()
    dir = helpers.tmpdir("tmux")
    socket = dir .. "/tmux.sock"
  end)
  after_each(function() if tmux then stop() end end)

  it("shows a banner naming the town and rig", function()
    if not tmux then return pending("needs tmux") end
    start()
    eventually("repl: rig demo of town " .. fx.town:gsub("%p", "%%%0"))
    eventually("%.help lists the helpers")
  end)

  it("completes gt. fields and modules, and methods through metatables", function()
    if not tmux then return pending("needs tmux") end
    start()
    literal("gt.sna")
    keys("Tab")
    eventually("gt> gt%.snapshot")
    keys("C-u")
    literal("rig:fet")
    keys("Tab")
    eventually("gt> rig:fetch")
    keys("C-u")
    literal("gt.git.ope")
    keys("Tab")
    eventually("gt> gt%.git%.open")
  end)

  it("cancels the current input with Ctrl-C and goes on", function()
    if not tmux then return pending("needs tmux") end
    start()
    literal("for i = 1, 3 do")
    keys("Enter")
    eventually(">>")
    keys("C-c")
    eventually("%^C")
    literal("6 * 7")
    keys("Enter")
    eventually("\n42\n")
  end)

  it("keeps history across sessions in $XDG_STATE_HOME/gt/history", function()
    if not tmux then return pending("needs tmux") end
    start()
    literal("100 + 23")
    keys("Enter")
    eventually("\n123\n")
    keys("C-d")
    local deadline = sys.clock_ms() + 5000
    while helpers.run({ tmux, "-S", socket, "has-session", "-t", "repl" }).ok and sys.clock_ms() < deadline do
      sys.sleep_ms(50)
    end
    assert.equal("100 + 23\n", helpers.read(dir .. "/state/gt/history"))
    start()
    keys("Up")
    eventually("gt> 100 %+ 23")
  end)
end)
